/*
 * The node's announcement state, in its history directory, known here alone:
 * the operator's marks (drain: withdraw every VIP; join-alone: one join
 * without the fleet peers that cannot be read), set by `xlb node`, and
 * announce.json, the daemon's report of its VIPs that `xlb node` reads.
 * Written through the one state-file writer (fsutil.h).
 */
#ifndef XLB_NODE_H
#define XLB_NODE_H

#include <stdbool.h>
#include <jansson.h>

enum xlb_node_mark { XLB_MARK_DRAIN, XLB_MARK_JOIN_ALONE };

/* Set (on) or clear a mark, durably.  0, or -errno with the message set. */
int xlb_node_mark_set(const char *hist, enum xlb_node_mark m, bool on);
/* Is the mark set? */
bool xlb_node_marked(const char *hist, enum xlb_node_mark m);
/* The daemon's report: write it (0, or -errno with the message set), read it
 * back (a new reference, or NULL when there is none or it is damaged). */
int xlb_node_report_write(const char *hist, json_t *report);
json_t *xlb_node_report_read(const char *hist);
/* checks.json: the daemon's last verdict of each checked backend and why
 * (issue 25) that `xlb backend list` shows; the same contract as above. */
int xlb_node_checks_write(const char *hist, json_t *checks);
json_t *xlb_node_checks_read(const char *hist);

#endif
