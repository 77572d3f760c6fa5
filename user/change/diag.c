/* The problems of a configuration, collected with their paths; see diag.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "diag.h"

void xlb_diag_add(struct xlb_diags *d, const char *path, const char *fmt, ...)
{
	struct xlb_diag *it;
	va_list ap;

	if (d->count >= XLB_DIAGS_MAX) {
		d->dropped++;
		return;
	}
	if (d->count == d->cap) {
		__u32 cap = d->cap ? d->cap * 2 : 16;
		void *p = realloc(d->items, cap * sizeof(*d->items));

		if (!p)
			return;
		d->items = p;
		d->cap = cap;
	}
	it = &d->items[d->count++];
	snprintf(it->path, sizeof(it->path), "%s", path);
	va_start(ap, fmt);
	vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
	va_end(ap);
}

void xlb_diags_free(struct xlb_diags *d)
{
	free(d->items);
	d->items = NULL;
	d->count = d->cap = 0;
}
