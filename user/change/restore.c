/* Restoring the running generation after a reboot; see change.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "change.h"
#include "ctl.h"
#include "history.h"
#include "log.h"

int xlb_restore_live(const char *ifname, const char *state_root, __u64 *from,
		     struct xlb_change_result *r)
{
	struct xlb_record rec;
	struct xlb_ctl c;
	char reason[160];
	int err;

	*from = 0;
	memset(r, 0, sizeof(*r));
	err = xlb_ctl_open_lost_ok(ifname, state_root, false, &c);
	if (err)
		return err;
	if (c.live_gen || !(*from = xlb_history_before(c.hist, UINT64_MAX))) {
		xlb_ctl_close(&c);
		return 0;
	}
	err = xlb_history_read(c.hist, *from, XLB_RECORD_FULL, &rec);
	if (err) {
		xlb_ctl_close(&c);
		return err;
	}
	snprintf(reason, sizeof(reason), "restore generation %llu: attached again with nothing "
		 "live (a reboot)", (unsigned long long)*from);
	err = xlb_change(&c, &(struct xlb_change){ .cfg = &rec.config, .source = "restore",
			 .reason = reason, .force = true, .prefer = &rec.assign }, r);
	xlb_record_free(&rec);
	xlb_ctl_close(&c);
	return err;
}
