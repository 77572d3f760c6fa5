/*
 * Fault injection from the environment, for test binaries and the test-only
 * build/xlb-faults (never linked into build/xlb): XLB_FAIL_AT=STEP makes the
 * step fail (backends|tables|services|conf|record|switch|fleet-desired|
 * fleet-write-lost;
 * finalize only pauses: the switch is done); XLB_FAIL_AT_FILE=PATH: while
 * PATH exists, the step its first word names fails (a test makes a running
 * daemon's commits fail, then recover); XLB_PAUSE_AT=STEP sleeps there for
 * XLB_PAUSE_SECONDS (default 5, fractions allowed) after saying "paused at
 * step STEP" on stderr, which is what a test that kills the controller
 * mid-apply waits for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fault.h"
#include "log.h"

/* XLB_FAIL_AT, or the first word of the file XLB_FAIL_AT_FILE names. */
static const char *fail_step(char *buf, size_t len)
{
	const char *path = getenv("XLB_FAIL_AT_FILE");
	FILE *f;

	if (!path)
		return getenv("XLB_FAIL_AT");
	f = fopen(path, "r");
	if (!f)
		return getenv("XLB_FAIL_AT");
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, " \n")] = '\0';
	return buf;
}

static int env_fault(const char *step)
{
	char buf[32];
	const char *fail = fail_step(buf, sizeof(buf)), *pause = getenv("XLB_PAUSE_AT");

	if (pause && !strcmp(pause, step)) {
		const char *s = getenv("XLB_PAUSE_SECONDS");

		fprintf(stderr, "xlb: paused at step '%s' (XLB_PAUSE_AT)\n", step);
		fflush(stderr);
		double secs = s ? strtod(s, NULL) : 5;	/* fractions allowed: 0.3 */

		nanosleep(&(struct timespec){ .tv_sec = (time_t)secs,
					      .tv_nsec = (long)((secs - (time_t)secs) * 1e9) }, NULL);
	}
	if (fail && !strcmp(fail, step))
		return xlb_errf(-EIO, "injected failure at step '%s' (XLB_FAIL_AT)", step);
	return 0;
}

__attribute__((constructor)) static void install_env_fault(void)
{
	xlb_fault_hook = env_fault;
}
