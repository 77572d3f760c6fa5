/* Command tables and argument helpers for the `xlb OBJECT VERB` grammar. */
#ifndef XLB_CMD_H
#define XLB_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct cmd {
	const char *name;
	int (*func)(int argc, char **argv);
};

/* Run the command of table named by argv[0]; usage error when none matches. */
int cmd_dispatch(const struct cmd *cmds, int argc, char **argv, const char *what);
/* A usage error: message, exit status 1. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a JSON result on stdout (compact, or indented with -p); steals o. */
void json_emit(json_t *o);
/* Report a detach (err from the library): the exit status. */
int report_detached(int err, const char *ifname, const char *what);
/* Parse an unsigned number in [min, max]. */
bool parse_u32(const char *s, unsigned int min, unsigned int max, unsigned int *out);

int do_attach(int argc, char **argv);
int do_detach(int argc, char **argv);
int do_status(int argc, char **argv);
int do_help(int argc, char **argv);
int do_config(int argc, char **argv);
int do_backend(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_table(int argc, char **argv);
int do_flow(int argc, char **argv);
int do_decap(int argc, char **argv);
int do_daemon(int argc, char **argv);
int do_rollout(int argc, char **argv);
int do_fleet(int argc, char **argv);
int do_node(int argc, char **argv);

/* common.c: global options --state DIR, --dev DEV. */
extern const char *xlb_state_root;
extern const char *xlb_dev;

struct xlb_ctl;
struct xlb_plan;
struct xlb_diags;
struct xlb_change;
struct xlb_change_result;
struct xlb_config;
struct xlb_rollout;
/* print.c: a plan as text (what xlb config plan shows). */
void print_plan(const struct xlb_plan *plan, FILE *out);
/* print.c: "FILE: PATH: MSG" lines to stderr, or one JSON object with -j. */
void print_diags(const struct xlb_diags *d);
/* common.c: open the attached interface's state (prints the error). */
int ctl_open(struct xlb_ctl *c, bool readonly);
/* The same for a whole configuration: a lost running record does not stop it. */
int ctl_open_whole(struct xlb_ctl *c, bool readonly);
/* A service of the running configuration; NULL, said on stderr, when there is none. */
const struct xlb_service_conf *running_service(const struct xlb_ctl *c, const char *name);
/* Print a change's plan and outcome; returns the exit status. */
int report_change(const struct xlb_ctl *c, struct xlb_change_result *r, const char *what);
/* Parse a configuration file; prints every error.  0, or an exit status (cfg freed). */
int load_config_file(const char *file, struct xlb_config *cfg);
/* --force and --reason TEXT of a change (apply, rollback; config and fleet): 0 or the usage exit. */
int change_opts(int argc, char **argv, int first, struct xlb_change *o, const char *verb);
/* xlb_change() then report_change(): the exit status. */
int run_change(struct xlb_ctl *c, const struct xlb_change *ch, const char *what);
/*
 * A node that follows a fleet (fleet.json beside its history) takes no local
 * change unless forced with a reason: 0 to go on (*record: a forced local
 * change, to be recorded with fleet_record() once applied), or the exit status.
 */
int fleet_guard(const struct xlb_ctl *c, bool force, const char *reason, bool *record);
/* Record the forced local change in fleet.json (c still open: its lock held). */
void fleet_record(const struct xlb_ctl *c, const char *reason);

/* stepped.c: --steps N --step-time D, taken out of argv: 0 or the exit status. */
int rollout_opts(int *argc, char **argv, unsigned int *steps, long long *step_ms);
/*
 * Plan a stepped change of c's interface to cfg (the plan printed) and start
 * it (xlb_rollout_start): 0 with its id in id, or the exit status.  c stays
 * open: the caller closes it, then waits with rollout_started().
 */
int start_rollout(struct xlb_ctl *c, const struct xlb_config *cfg, unsigned int steps,
		  long long step_ms, const char *reason, bool force, const char *what,
		  char *id, size_t idlen);
/* Wait for the daemon to take up rollout id in hist, print it: the exit status. */
int rollout_started(const char *hist, const char *id);
#define ROLLOUT_WAIT_MS	15000	/* how long a command waits for the daemon to act */
/* Wait until done(rollout) or another rollout replaced id: 0 and *r, or -errno. */
int rollout_await(const char *hist, const char *id, bool (*done)(const struct xlb_rollout *),
		  struct xlb_rollout *r);
void print_rollout(const struct xlb_rollout *r);


/* storeopts.c: the fleet store's options (--store, --fleet, --store-file). */
#define XLB_STORE_FILE_DEFAULT	"/etc/xlb/fleet.json"
struct xlb_store;
struct xlb_store_opts;
struct store_args {
	const char *urls, *fleet, *file;	/* NULL: not given */
};
/* Take the store options out of argv (*argc adjusted): 0 or the exit status. */
int store_args_take(int *argc, char **argv, struct store_args *a);
/* The client file (given, else the default when present), then the options; checked and
 * opened: 0, or the exit status (said). */
int store_args_open(const struct store_args *a, struct xlb_store_opts *o, struct xlb_store **s);
/* "URL,URL" of o's endpoints into buf. */
const char *store_endpoints(const struct xlb_store_opts *o, char *buf, size_t len);
/* Say a store call's failure (what: the step), naming the endpoints when it could not be
 * read: the exit status (1 for what the store holds or a lost race, else 2). */
int store_failed(const struct xlb_store_opts *o, int err, const char *what);
/* fleetview.c: xlb fleet status, xlb fleet history. */
int do_fleet_status(int argc, char **argv);
int do_fleet_history(int argc, char **argv);

#endif
