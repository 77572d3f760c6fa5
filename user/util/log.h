/* Diagnostics: pr_warn/pr_info/pr_debug to stderr, JSON errors with -j. */
#ifndef XLB_LOG_H
#define XLB_LOG_H

#include <stdbool.h>

/* Exit statuses (contract): done, refused, system or kernel error. */
enum xlb_exit {
	XLB_EXIT_OK = 0,
	XLB_EXIT_REFUSED = 1,
	XLB_EXIT_SYSTEM = 2,
};

extern bool xlb_json;		/* -j: results and errors as JSON */
extern bool xlb_pretty;		/* -p: indented JSON */
extern int xlb_verbosity;	/* 0 warn, 1 info, 2 debug */

void pr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pr_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A command's final error: "xlb: error: ..." or {"error": "..."} on stderr. */
void p_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));



/*
 * The library's last error, said where the context is known and printed
 * once by the command (p_err("%s", xlb_errmsg())).
 */
int xlb_errf(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *xlb_errmsg(void);
/* Who makes a change: $SUDO_USER, else the caller's user name ("?"). */
const char *xlb_who(void);
/*
 * Entry points clear it first and again when they succeed, so a message is
 * always the failing call's own and a success leaves none.
 */
void xlb_err_clear(void);
/* Exit status for a library error: refusals are 1, everything else 2. */
int xlb_exit_for(int err);
#endif
