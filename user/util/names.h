/* Names of stat reasons, events and decap counters (metrics, status, tests). */
#ifndef XLB_NAMES_H
#define XLB_NAMES_H

#include "xlb_abi.h"

extern const char *const xlb_stat_names[XLB_STAT_MAX];
extern const char *const xlb_event_names[XLB_EV_MAX];
extern const char *const xlb_decap_names[XLB_DECAP_MAX];

/* "forward", "pass", "drop" or "reply" (an answer sent back) for a reason. */
const char *xlb_stat_kind(unsigned int reason);

#endif
