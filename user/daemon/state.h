/*
 * The daemon's state, shared by its jobs (one file each in this folder):
 * what it follows of the running configuration, the health verdicts, the
 * rollout it moves on, the VIPs it announces.  The main thread owns it; the
 * metrics thread reads what d->lock guards.
 */
#ifndef XLB_DAEMON_STATE_H
#define XLB_DAEMON_STATE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <poll.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include <systemd/sd-daemon.h>
#include "change.h"
#include "ctl.h"
#include <bpf/bpf.h>
#include "daemon.h"
#include "fleet.h"
#include "fleetfile.h"
#include "fleetrollout.h"
#include "fleetstore.h"
#include "store.h"
#include "statuspage.h"
#include "fsutil.h"
#include "hcpath.h"
#include "health.h"
#include "history.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "netutil.h"
#include "moved.h"
#include "names.h"
#include "node.h"
#include "probe.h"
#include "rollout.h"
#include "shares.h"

struct dbackend {
	char service[XLB_NAME_MAX];
	union xlb_addr addr;
	__u8 family;
	bool present;			/* in the running configuration */
	bool checked;			/* its service has a health check */
	bool health_down;		/* the daemon took it out */
	struct xlb_hstate h;
	struct xlb_probe probe;
	struct xlb_watch watch;
	double table_share;
	__u32 id;
	__u32 disagree_run;		/* checks in a row it alone saw it down (verdicts.c) */
	__u32 hc_mark;			/* the probe in flight's tunnel mark (0: none; tunnel.c) */
	/* the last verdict and why (issue 25), under d->lock */
	bool has_verdict, last_ok;
	char why[128];
	__u8 cls;			/* enum xlb_probe_class */
	__u8 via;			/* enum xlb_health_via of that check */
	__u64 fail_by[XLB_PC_MAX];
	bool neigh_said;		/* neigh.c said it cannot be on the segment */
};

struct dservice {
	char name[XLB_NAME_MAX];
	bool floor_hit;
};

/* A watched child process (child.c): a job that waits on the outside world. */
struct dchild {
	pid_t pid;			/* -1: none */
	int fd;				/* what it writes */
	__u64 started_ms, deadline_ms;
	char out[512];
	size_t len;
};

enum { CHILD_IDLE, CHILD_RUNNING, CHILD_DONE, CHILD_KILLED };

#define VIP_ASKED_SHOW	2

/* A VIP's announcement through the node's BGP speaker (--announce). */
struct dvip {
	char proto[64];			/* its BIRD protocol: xlb_ADDRESS */
	int state;			/* -1 not known yet, 0 withdrawn, 1 announced */
	int want;			/* what the node's state says it should be */
	int asked;			/* what the birdc under way was asked (VIP_ASKED_SHOW:
					   its state, at the daemon's start) */
	bool probed;			/* its state was asked of BIRD */
	bool gone;			/* no longer configured: withdrawn once, then forgotten */
	char why[200];			/* why it is withdrawn */
	char said[200];			/* the why last logged ("" none) */
	struct dchild birdc;		/* birdc enable|disable under way */
	__u64 failed_ms;		/* last failed birdc (tried again a second later) */
	__u64 logged_ms;		/* last failure logged (once a minute) */
};

/* A service's live table fingerprint (xlb_table_info). */
struct dtable {
	char name[XLB_NAME_MAX];
	char fp[17];
};

/*
 * The fleet's health verdicts (verdicts.c, issue 24): decide/health as read,
 * the mode (the fleet's verdicts or this node's own), the sick node's
 * withdrawal, and the leader's writes.
 */
struct dverdicts {
	json_t *record;			/* decide/health as last read (NULL: none) */
	__s64 mod_rev;			/* its mod revision */
	__u64 seq, said_seq;		/* its seq; the one last logged */
	bool fleet;			/* its "down" is laid over the tables (when record) */
	bool fell_back;			/* own verdicts after the grace: a rejoin is an event */
	bool read_again;		/* decide/health read since the store was lost */
	__u64 fallback_seq;		/* the record's seq when it fell back */
	__u64 back_ms;			/* the store answers since (own verdicts; 0: lost) */
	bool read_busy;
	__u64 read_ms;			/* the next read of it (monotonic) */
	char sick[300];			/* why this node withdraws its VIPs ("" it need not) */
	char sick_said[300];
	__u32 disagree;			/* backends it alone sees down now */
	/* the leader */
	bool judge_due, write_busy;
	bool must_write;		/* its next judgement is written even unchanged: its
					   term is new or the store came back */
	__u64 judge_ms;			/* not before (after a failure) */
	__s64 judged_term;
	__u64 judged_gen;
	__u64 wrote_seq, wrote_ms;	/* the record under way or awaited from the watch */
	__u64 written;			/* records written as leader */
	__s64 stale_rev;		/* nodes' records put at or before it (the store's
					   revision when it was last lost) are no votes */
	bool lost_seen;			/* the store's loss is marked in stale_rev */
	__u64 back_at;			/* when it answered again (monotonic) */
	struct {			/* for the metrics thread (under d->lock) */
		bool fleet;
		__u64 seq, disagree, written;
	} m;
};

/* The rollout the daemon moves on (rollout.json holds the rest). */
struct drollout {
	bool active;
	char id[16];
	__u32 step, steps;
	struct xlb_config from;		/* the start generation's configuration */
	struct xlb_config changed;	/* the services the rollout changes (no backends) */
	__u64 expect_gen;		/* the live generation it expects */
	__u64 step_start_ms;		/* monotonic: the step's window began */
	struct xlb_rollout_backend *snap;	/* counters at the window's start */
	__u32 nr_snap;
	__u64 drops0;
	struct timespec seen_mtime;	/* rollout.json as last read (nothing to do while
					   it is unchanged and no rollout is active) */
};

/*
 * Following the fleet in the store (--store, follow.c and followpub.c): the
 * lease, the desired record and its watch, the generation applied or
 * refused.  Every request is asynchronous, driven from the loop's turns.
 */
enum follow_refusal {
	FOLLOW_REFUSED_CONTENT,	/* the generation itself (invalid body, fingerprint
				   mismatch, body missing): alike on every node, final */
	FOLLOW_REFUSED_NODE,	/* this node's sake (its hash key id): final */
	FOLLOW_REFUSED_SYSTEM,	/* a system error on this node: tried again */
};

struct dfollow {
	struct xlb_store *st;
	/* the lease the status record lives under */
	__s64 lease;
	__s64 lease_ttl;
	__u64 lease_kept_ms;		/* granted or kept alive last (monotonic) */
	bool lease_busy;
	__u64 lease_retry_ms;
	/* the desired record: read with a range, then watched */
	struct xlb_fleet_desired desired;
	bool have_desired;		/* read since the daemon started */
	__u64 desired_ms;		/* when its generation last changed (monotonic) */
	bool need_range;		/* (re)read it, then watch from after its revision */
	bool range_busy;
	__u64 range_retry_ms;
	__s64 watch_rev;		/* the next revision the watch must deliver */
	bool watch_on;			/* a watch this daemon started is running */
	__u64 watch_retry_ms;
	/* the generation's body, and what became of it */
	bool body_busy;
	__u64 body_gen;			/* the generation whose body is asked for */
	__u64 apply_retry_ms;
	__u64 applied;			/* fleet generation this node runs (0: none) */
	char applied_fp[17];
	__u64 refused_gen;		/* the generation it could not apply (0: none) */
	char refused_why[400];
	enum follow_refusal refused_kind;	/* what refused_gen's refusal is about */
	char error[300];		/* the last system or store error ("" none) */
	bool desired_absent;		/* the store has no desired record, the node applied one */
	json_t *local_change;		/* as fleet.json says (NULL none) */
	bool clear_local;		/* a fleet generation was applied: fleet.json clears it */
	bool file_dirty;		/* fleet.json must be written */
	/* the store's reachability */
	bool reachable;
	bool ever_reached;
	__s64 lost_since;		/* unix seconds, 0: not lost */
	__u64 lost_ms;			/* the same, monotonic (the grace does not count it) */
	char lost_logged[300];		/* the failure said (once per loss) */
	__u64 rereads[XLB_FLEET_REREAD_MAX];	/* desired read again, by why */
	/* the status record */
	bool dirty, put_busy;
	__u64 published_ms;
	__u64 put_retry_ms;		/* after a failed put (monotonic) */
	__u64 put_backoff_ms;		/* the next failure's wait: 1 s doubling to 10 s */
	/* the member record (members/NODE, no lease): followpub.c */
	bool member_busy, member_read, member_put;
	char member_first[32];		/* first_seen, as the store had it or now */
	__u64 member_gen;		/* the generation it was put with */
	__u64 member_ms;		/* put last, or the next try (monotonic) */
	/* for the metrics thread (under d->lock) */
	struct {
		bool reachable, local_change, refused, desired_absent;
		__u64 watch_rev, desired, applied, lease_age_s;
		__u64 rereads[XLB_FLEET_REREAD_MAX];
	} m;
	struct xlb_page_fleet page;	/* the status page's fleet section (under d->lock) */
};

/*
 * The fleet decides together (--store, issue 24; decide.c, decidew.c,
 * decidenodes.c): decide/ read and watched on a store handle of its own, the
 * election and the leadership held, the leader's view of nodes/ on a third.
 */
struct ddecide {
	struct xlb_store *st;		/* decide/: read, watched; elections, writes */
	bool need_range, range_busy, watch_on;
	bool have_read;			/* decide/ read since the daemon started */
	__u64 retry_ms, backoff_ms;	/* the next range or watch, after a failure */
	__s64 watch_rev;		/* the next revision the watch must deliver */
	char lost_said[300];		/* the store failure logged ("" none) */
	/* decide/leader as the store holds it (leader_term 0: absent) */
	char leader[64], since[32];
	__s64 leader_term, leader_lease;
	char leader_value[256];		/* its value as read ("" absent or too long) */
	__u64 leader_elections;
	char gone[200];			/* how the last leader went ("" none seen) */
	/* this node's leadership */
	bool leading, elect_busy;
	__s64 term, term_lease;		/* its term (decide/leader's create revision), lease */
	char term_value[256];		/* decide/leader as this leader wrote it */
	__s64 elect_lease;		/* the lease the election under way puts it under */
	char elect_value[256];
	__u64 elect_retry_ms, elect_backoff_ms;
	__u64 elections, changes;	/* won by this daemon; leaders seen to change */
	__u64 last_event_us;		/* event ids stay unique */
	/* nodes/: the leader's view of the live nodes (decidenodes.c) */
	struct xlb_store *nst;
	json_t *nodes;			/* NODE -> status record (NULL: not leading) */
	bool nodes_need_range, nodes_busy, nodes_watch;
	__s64 nodes_rev;
	__u64 nodes_retry_ms, nodes_backoff_ms;
	/* for the metrics thread and the page (under d->lock) */
	struct {
		bool leading;
		__s64 term;
		__u64 elections, changes;
		char leader[64], since[32];
		struct xlb_page_rollout rollout;	/* decide/rollout as watched */
		int rollout_state;			/* enum xlb_rollout_state */
		__u64 rollbacks;			/* d->fr.rollbacks */
		/* decide/events: the newest XLB_PAGE_EVENTS, newest first (decidelog.c) */
		struct xlb_page_event events[XLB_PAGE_EVENTS];
		__u32 nr_events;
		bool events_read;		/* from the store at the first read */
	} m;
};

/* A configuration the rollout driver reads by fingerprint (config/FP), cached. */
struct frcfg {
	char fp[17];
	bool have, busy;
	struct xlb_config cfg;
	char err[300];			/* it cannot be read or is not valid ("" none) */
};

/*
 * The fleet's rollout (fleetnode.c on every node, fleetroll.c on the
 * leader): decide/rollout as watched, and the leader's work on it.
 */
struct dfleetroll {
	struct xlb_fleet_rollout rec;	/* as watched (rec.mod_rev 0: none) */
	char bad[300];			/* the record is not one (said once) */
	__u64 put_ms;			/* the status put for its counters (monotonic) */
	/* the leader's (reset when its term changes) */
	__s64 term;
	json_t *snap;			/* NODE -> counters at the window's start */
	char snap_id[16];
	__u32 snap_step;
	long long window_ms;		/* wall clock ms of the snapshot */
	struct frcfg from, to;
	struct xlb_config changed;	/* the services it changes (no backends) */
	char changed_id[16];
	int phase;			/* FR_IDLE, a write under way, or its confirmation */
	__s64 confirm_rev;		/* the record's revision the write was conditioned on */
	__u64 confirm_gen;		/* the desired generation it wrote (0 none) */
	__u64 confirm_ms;		/* when the confirmation stops being waited for */
	__u64 retry_ms, backoff_ms;
	struct xlb_fleet_desired next;	/* the step's desired record, once its body is in */
	struct xlb_fleet_rollout after;	/* the record the step writes */
	char *step_body;
	char said[300];			/* what it waits for, as last logged */
	__u64 rollbacks;		/* rollouts rolled back here as leader (written) */
};

struct daemon {
	const struct xlb_daemon_opts *o;
	pthread_mutex_t lock;		/* be[], svc[], counters: main vs metrics thread */
	struct dbackend *be;
	__u32 nr_be, cap_be;
	struct dservice svc[XLB_MAX_SERVICES];
	__u32 nr_svc;
	struct xlb_config running;	/* last seen, for checks and metrics */
	__u64 running_gen;		/* the generation running describes */
	__u64 lost_gen;			/* whose lost record was said (once) */
	char sync_err[256];		/* the last failure to read it (said once) */
	struct xlb_assign assign;
	__u64 generation;
	__u32 live_slot;
	char fingerprint[17];
	struct xlb_dp dp;		/* pinned maps, opened once */
	struct xlb_hcpath *hc;		/* the checks' way through the tunnel (NULL: none; hcpath.h;
					   set under lock: the metrics thread reads its counters) */
	char hc_why[256];		/* why it could not be made ("" it was not tried or is open) */
	__u64 hc_tried_ms;		/* its last failed open (tried again a minute later) */
	int epfd, sigfd;
	__u32 seed;
	bool pending;			/* a verdict flipped and is not applied yet */
	__u64 retry_at_ms;		/* the next attempt, after a failed one */
	__u32 backoff_ms;		/* 0, or the wait after the last failure */
	__u32 attempts;			/* failed attempts of the pending change */
	__u64 retry_logged_ms;		/* the last line about them */
	__u64 health_retries[XLB_HEALTH_RETRY_MAX];
	__u64 reloads[XLB_RELOAD_MAX];
	__u64 health_commits;
	__u64 unchecked;		/* checks this host could not make */
	__u64 unchecked_logged_ms;	/* last log line about them (one a minute) */
	struct xlb_history_usage usage;	/* of the history, every 10 s */
	bool has_usage;
	__u32 open_fds, max_fds;
	bool has_moved;			/* the release pass below ran */
	__u32 moved_by_index[XLB_MAX_SERVICES];
	__u32 flows_remembered;
	__u64 flows_counted_ms;		/* when flows_remembered was counted */
	__u64 moved_released;
	struct drollout ro;
	struct dtable tables[XLB_MAX_SERVICES];
	__u32 nr_tables;
	char fleet_why[320];		/* why the fleet refuses this node ("" when it agrees) */
	char fleet_note[320];		/* how it agreed, as last logged */
	__u64 fleet_read_ms;		/* when the peers were last read */
	bool fleet_alone;		/* xlb node join --alone: unreadable peers do not refuse */
	bool fleet_fresh;		/* read since this node began to join */
	struct dchild fleet;		/* the peers' reading under way */
	bool ann_drained, ann_attached;	/* as the last announce tick found them */
	struct dvip vips[XLB_MAX_VIPS];
	__u32 nr_vips, announced;
	__u64 announce_changes;
	bool reload_failed;		/* the last reload of --config was not applied */
	__u64 rollouts_done, rollouts_back;
	int daemon_lock;		/* held while it runs: the CLI sees a daemon */
	struct dfollow fl;		/* --store: the fleet this node follows */
	struct dverdicts vd;		/* --store: the fleet's health verdicts */
	struct ddecide dc;		/* --store: the fleet's leader, decide/ */
	struct dfleetroll fr;		/* --store: the fleet's rollout */
};

/* One log line per event, syslog priority prefix (journald reads it). */
void dlog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__u64 now_ms(void);
void checks_tick(struct daemon *d);	/* checks.json: the verdicts and why (checks.c) */
const char *addr_s(const struct dbackend *b, char *buf, size_t len);

/* announce.c */
void announce_tick(struct daemon *d);
void announce_poll(struct daemon *d);
void announce_stop(struct daemon *d);

/* join.c */
void fleet_tick(struct daemon *d, bool joining, const char *hist);
void fleet_collect(struct daemon *d);

/* follow.c: following the fleet in the store (with --store) */
int follow_start(struct daemon *d);
void follow_poll(struct daemon *d);
void follow_second(struct daemon *d);
void follow_stop(struct daemon *d);

/* followpub.c: what the node says of it: the status record, fleet.json */
/* Why a VIP must not be announced for the fleet's sake ("" when it may). */
void follow_announce_why(struct daemon *d, bool announced, char *why, size_t len);
void follow_publish(struct daemon *d);
void follow_write_file(struct daemon *d, bool locked);
void follow_read_file(struct daemon *d, bool at_start);
void follow_base_fingerprint(struct daemon *d, char out[17]);
char *follow_b64(const char *text, size_t len);

/* verdicts.c: the fleet's health verdicts (the rest: decide.h) */
bool verdicts_in_force(struct daemon *d);
bool verdicts_fleet_view(struct daemon *d, const char *service, const struct xlb_backend_conf *b,
			 struct xlb_health_view *view);
bool verdicts_floor(struct daemon *d, const char *service);
void verdicts_checked(struct daemon *d, struct dbackend *b);
json_t *verdicts_status(struct daemon *d);
void verdicts_page(struct daemon *d, struct xlb_page_fleet *p);
void verdicts_stop(struct daemon *d);
/* decide.c: this daemon leads no more (reread: decide/ read again) */
void decide_lose(struct daemon *d, bool reread, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* decidew.c: a new event record's key, and its JSON text (malloc'd) */
void decide_event_key(struct daemon *d, char *buf, size_t len);
char *decide_event_json(struct daemon *d, const char *kind, __s64 term, const char *what,
			const char *why);
/* decidelog.c: decide/events/ID as watched (key: the full key; kv borrowed), the range
 * of the newest read with the others (resp: its response_range; its op for the read),
 * the rollout copied for the metrics and the page (decide_log_sync: under d->lock) */
void decide_log_event(struct daemon *d, const char *key, json_t *kv);
void decide_log_range(struct daemon *d, json_t *resp);
void decide_log_sync(struct daemon *d);
json_t *decide_log_range_op(struct daemon *d);
/* decidenodes.c: the leader's watch of nodes/ */
void decide_nodes_tick(struct daemon *d);
void decide_nodes_drop(struct daemon *d);
/* decide.c: a prefix range's body {key, range_end} (base64) */
json_t *decide_prefix_body(const char *prefix);

/* child.c */
int child_start(struct dchild *c, char *const argv[], void (*fn)(void *arg, int fd), void *arg,
		__u32 timeout_ms);
int child_poll(struct dchild *c, int *status);
void child_stop(struct dchild *c);

/* checks.c */
void commit_health(struct daemon *d, __u64 now);
void progress_check(struct daemon *d, __u32 idx);
void reload(struct daemon *d);
void run_checks(struct daemon *d, __u64 now);

/* tunnel.c: the checks' way through the tunnel */
void hc_open(struct daemon *d, __u64 now);
void hc_close(struct daemon *d);
void hc_refresh(struct daemon *d, __u64 now);
int hc_target(struct daemon *d, struct dbackend *b, struct xlb_probe_target *t);
void hc_release(struct daemon *d, struct dbackend *b);
void check_stop(struct daemon *d, struct dbackend *b);

/* neigh.c: L2 direct return's backends' neighbours kept resolved */
void neigh_tick(struct daemon *d, __u64 now);

/* fleetnode.c: the node's side of a fleet rollout, and the counters rollouts judge */
void backend_signals(struct daemon *d, struct dbackend *b, struct xlb_rollout_backend *s);
__u64 dp_drops(struct daemon *d);
void fleetroll_second(struct daemon *d);
void fleetroll_stop(struct daemon *d);

/* rollouts.c */
void rollout_tick(struct daemon *d);
bool slow_start(struct xlb_ctl *c, const struct xlb_config *cfg);

/* running.c */
bool overlay(struct daemon *d, struct xlb_config *cfg);
int running_base(struct daemon *d, struct xlb_config *base);
struct dbackend *find_be(struct daemon *d, const char *svc, const union xlb_addr *a, __u8 family);
__u32 map_max_entries(int fd);
bool running_lost(struct daemon *d, const struct xlb_ctl *c);
int sync_running(struct daemon *d);

/* serve.c */
bool is_udp(const struct daemon *d, const char *service);
void sample(struct daemon *d);
struct MHD_Daemon *start_metrics(struct daemon *d, const char *spec);
void write_metrics_file(struct daemon *d, const char *path);

#endif
