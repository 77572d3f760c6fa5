/* The daemon's small helpers, beneath every job (state.h). */
#include "state.h"

void dlog(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>xlb: ", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

const char *addr_s(const struct dbackend *b, char *buf, size_t len)
{
	return xlb_addr_str(&b->addr, b->family, buf, len);
}
