/*
 * The fleet check before a node joins (--fleet-peer), in a watched child
 * (child.c) so that a slow or silent peer never holds the loop: each peer's
 * metrics are read within XLB_FLEET_PEER_MS, all of the read.  A node joins
 * (announces a VIP it does not announce yet) only when it verified that it
 * agrees: every peer was read, and every peer in service (announcing) has
 * the same live tables, service by service, so a flow the router moves
 * between nodes reaches the same backend.  When every peer was read and
 * none is in service, the node is the fleet's first: the peers that have
 * tables must agree with it too (nodes starting together).  A peer that
 * cannot be read refuses the join: agreement cannot be verified.  The
 * operator lets a lone node come up with `xlb node join --alone` (the mark
 * join-alone in the history directory): unreadable peers are then passed
 * over, once; the readable ones are still compared.  A node already
 * announcing is not withdrawn for a disagreement (a change rolling over the
 * fleet disagrees for a moment).
 */
#define _GNU_SOURCE
#include "state.h"

#define FLEET_EVERY_MS		2000	/* peers read again while joining */
#define FLEET_PEER_MS		1000	/* one peer's read, all of it */

/* How peer's live tables differ from this node's ("" when they do not). */
static void differs(const struct daemon *d, const struct xlb_fleet_node *peer, char *out,
		    size_t len)
{
	out[0] = '\0';
	if (peer->nr_tables != d->nr_tables) {
		snprintf(out, len, "%s has %u live tables, this node %u (xlb fleet check)",
			 peer->source, peer->nr_tables, d->nr_tables);
		return;
	}
	for (__u32 k = 0; k < d->nr_tables && !out[0]; k++) {
		const char *fp = xlb_fleet_table(peer, d->tables[k].name);

		if (strcmp(fp, d->tables[k].fp))
			snprintf(out, len, "service %s's table is %s here, %s on %s (xlb fleet "
				 "check)", d->tables[k].name, d->tables[k].fp, fp[0] ? fp : "none",
				 peer->source);
	}
}

/*
 * In the child: read every peer, write the verdict to fd: why this node must
 * not join ("" when it may), a note to log, the number of unreadable peers.
 */
static void read_peers(void *arg, int fd)
{
	const struct daemon *d = arg;
	struct xlb_fleet_node *peer = calloc(1, sizeof(*peer));
	char why[320] = "", bad[256] = "", unread_s[256] = "", note[320] = "", diff[256];
	__u32 serving = 0, unread = 0, n = d->o->nr_fleet_peers;

	for (__u32 i = 0; peer && i < n; i++) {
		peer->source = d->o->fleet_peers[i];
		xlb_fleet_read(peer, FLEET_PEER_MS);
		if (peer->error[0]) {
			if (!unread++)
				snprintf(unread_s, sizeof(unread_s), "%s: %s", peer->source,
					 peer->error);
			continue;
		}
		differs(d, peer, diff, sizeof(diff));
		serving += peer->announced > 0;
		if (peer->announced > 0 && diff[0] && !why[0])
			snprintf(why, sizeof(why), "the fleet disagrees: %s", diff);
		else if (peer->nr_tables && diff[0] && !bad[0])
			snprintf(bad, sizeof(bad), "%s", diff);
	}
	if (!peer)
		snprintf(why, sizeof(why), "cannot verify that the fleet agrees: out of memory");
	else if (!why[0] && unread && !d->fleet_alone)
		snprintf(why, sizeof(why), "cannot verify that the fleet agrees: %u of %u peers "
			 "unreadable (%s); xlb node join --alone announces without them", unread,
			 n, unread_s);
	else if (!why[0] && !serving && bad[0])
		snprintf(why, sizeof(why), "the fleet disagrees: no peer is in service, and %s",
			 bad);
	else if (!why[0] && unread)
		snprintf(note, sizeof(note), "joins without %u unreadable peers, as the operator "
			 "said (xlb node join --alone): %s", unread, unread_s);
	else if (!why[0] && !serving)
		snprintf(note, sizeof(note), "every peer read, none in service, none differs: "
			 "this node joins as the fleet's first");
	dprintf(fd, "%s\n%s\n%u\n", why, note, peer ? unread : n);
	free(peer);
}

/* The verdict of the child, parsed: false when it wrote none. */
static bool verdict(char *out, char *why, size_t wlen, char *note, size_t nlen, __u32 *unread)
{
	char *l2 = strchr(out, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;

	if (!l3)
		return false;
	*l2 = *l3 = '\0';
	snprintf(why, wlen, "%s", out);
	snprintf(note, nlen, "%s", l2 + 1);
	*unread = strtoul(l3 + 1, NULL, 10);
	return true;
}

/* The peers' reading ended: its verdict is the fleet's word until the next. */
void fleet_collect(struct daemon *d)
{
	char why[sizeof(d->fleet_why)], note[sizeof(d->fleet_note)] = "";
	int status, r = child_poll(&d->fleet, &status);
	__u32 unread = 0;

	if (r != CHILD_DONE && r != CHILD_KILLED)
		return;
	d->fleet_read_ms = now_ms();
	if (r == CHILD_KILLED)
		snprintf(why, sizeof(why), "cannot verify that the fleet agrees: reading the "
			 "peers took more than %u ms (killed)", d->o->nr_fleet_peers * FLEET_PEER_MS
			 + 1000);
	else if (!verdict(d->fleet.out, why, sizeof(why), note, sizeof(note), &unread))
		snprintf(why, sizeof(why), "cannot verify that the fleet agrees: the peers' "
			 "reading ended without a verdict (wait status %d)", status);
	if (why[0] && strcmp(why, d->fleet_why))
		dlog(4, "fleet: %s", why);
	if (!why[0] && note[0] && strcmp(note, d->fleet_note))
		dlog(4, "fleet: %s", note);
	snprintf(d->fleet_note, sizeof(d->fleet_note), "%s", why[0] ? "" : note);
	pthread_mutex_lock(&d->lock);	/* the status page reads it */
	snprintf(d->fleet_why, sizeof(d->fleet_why), "%s", why);
	d->fleet_fresh = true;
	pthread_mutex_unlock(&d->lock);
}

/*
 * Once a second: while the node joins, read the peers every FLEET_EVERY_MS
 * (in a child); once every VIP is announced, nothing is read, and the next
 * join reads them first.  The operator's join-alone mark lasts one join.
 */
void fleet_tick(struct daemon *d, bool joining, const char *hist)
{
	if (!d->o->nr_fleet_peers) {	/* nothing to pass over: the mark means nothing */
		xlb_node_mark_set(hist, XLB_MARK_JOIN_ALONE, false);
		return;
	}
	d->fleet_alone = xlb_node_marked(hist, XLB_MARK_JOIN_ALONE);
	if (!joining) {
		if (d->fleet_alone && !xlb_node_mark_set(hist, XLB_MARK_JOIN_ALONE, false))
			dlog(5, "fleet: every VIP announced: the join-alone mark is spent");
		child_stop(&d->fleet);
		pthread_mutex_lock(&d->lock);
		d->fleet_why[0] = '\0';
		d->fleet_fresh = false;
		pthread_mutex_unlock(&d->lock);
		d->fleet_read_ms = 0;
		return;
	}
	if (d->fleet.pid > 0 || now_ms() - d->fleet_read_ms < FLEET_EVERY_MS)
		return;
	if (child_start(&d->fleet, NULL, read_peers, d,
			d->o->nr_fleet_peers * FLEET_PEER_MS + 1000)) {
		pthread_mutex_lock(&d->lock);
		snprintf(d->fleet_why, sizeof(d->fleet_why), "cannot verify that the fleet "
			 "agrees: cannot start reading the peers: %s", strerror(errno));
		d->fleet_fresh = true;
		pthread_mutex_unlock(&d->lock);
		d->fleet_read_ms = now_ms();
	}
}
