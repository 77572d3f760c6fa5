/* The problems of a configuration, each with the path of the value and why. */
#ifndef XLB_DIAG_H
#define XLB_DIAG_H

#include <linux/types.h>

/* Every problem of a file, each with the path of the value and why. */
struct xlb_diag {
	char path[128];
	char msg[256];
};

#define XLB_DIAGS_MAX		100		/* kept; the rest only counted */

struct xlb_diags {
	const char *file;
	struct xlb_diag *items;
	__u32 count, cap;
	__u32 dropped;		/* problems past XLB_DIAGS_MAX, not kept */
};

void xlb_diag_add(struct xlb_diags *d, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void xlb_diags_free(struct xlb_diags *d);

#endif
