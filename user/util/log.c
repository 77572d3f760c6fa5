/* Diagnostics to stderr; with -j, a command's error is one JSON object. */
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <errno.h>
#include <jansson.h>
#include "log.h"

bool xlb_json;
bool xlb_pretty;
int xlb_verbosity;

static void vlog(int level, const char *prefix, const char *fmt, va_list ap)
{
	if (level > xlb_verbosity)
		return;
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
}

void pr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (xlb_json) {
		char msg[1024];
		json_t *o;

		vsnprintf(msg, sizeof(msg), fmt, ap);
		msg[strcspn(msg, "\n")] = '\0';
		o = json_pack("{s:s}", "warning", msg);
		json_dumpf(o, stderr, JSON_COMPACT);
		fputc('\n', stderr);
		json_decref(o);
	} else {
		vlog(0, "xlb: warning: ", fmt, ap);
	}
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (!xlb_json)
		vlog(1, "xlb: ", fmt, ap);
	va_end(ap);
}

void pr_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (!xlb_json)
		vlog(2, "xlb: debug: ", fmt, ap);
	va_end(ap);
}

void p_err(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msg[strcspn(msg, "\n")] = '\0';
	if (xlb_json) {
		json_t *o = json_pack("{s:s}", "error", msg);

		json_dumpf(o, stderr, JSON_COMPACT);
		fputc('\n', stderr);
		json_decref(o);
	} else {
		fprintf(stderr, "xlb: error: %s\n", msg);
	}
}

static char last_error[2048];

/* Record the error message and return err, so callers write: return xlb_errf(...) */
int xlb_errf(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

void xlb_err_clear(void)
{
	last_error[0] = '\0';
}

const char *xlb_errmsg(void)
{
	return last_error[0] ? last_error : "unknown error";
}

int xlb_exit_for(int err)
{
	switch (err) {
	case -EINVAL:
	case -ENODEV:
	case -EBUSY:
	case -ENOENT:
	case -EEXIST:
	case -ERANGE:
		return XLB_EXIT_REFUSED;
	default:
		return err ? XLB_EXIT_SYSTEM : XLB_EXIT_OK;
	}
}

const char *xlb_who(void)
{
	const char *u = getenv("SUDO_USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "?";
}
