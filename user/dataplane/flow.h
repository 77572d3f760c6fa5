/* Which backend a flow gets on this node, and why: what the data plane decides. */
#ifndef XLB_FLOW_H
#define XLB_FLOW_H

#include <stdbool.h>
#include "ctl.h"

#define XLB_FLOW_ADDR_LEN	64

/* Backends by address ("" for none). */
struct xlb_flow_explain {
	__u32 slot, table_size;		/* the flow's table slot and the table's size */
	char current[XLB_FLOW_ADDR_LEN];	/* the slot's backend: where a new connection goes */
	bool moved;			/* a change moved the slot (it has a previous backend) */
	char previous[XLB_FLOW_ADDR_LEN];	/* that backend, when moved */
	bool previous_usable;		/* present and not down */
	char remembered[XLB_FLOW_ADDR_LEN];	/* the connection table's backend for it */
	char remembered_alt[XLB_FLOW_ADDR_LEN];	/* that entry's second chance */
	bool stale;			/* an entry whose backend is gone or down: re-hashed */
	char syn[XLB_FLOW_ADDR_LEN];	/* its SYN's entry in a moved slot, not yet answered */
	char unseen[XLB_FLOW_ADDR_LEN];	/* where an established connection not seen here goes */
	char second_chance[XLB_FLOW_ADDR_LEN];	/* and its second chance */
};

/*
 * Explain flow k (client's 5-tuple to service s of c's running
 * configuration) from the live maps, as the program decides it (state is
 * consulted in moved slots only, as the program does; a UDP flow without
 * state takes the previous backend until the service's hold_until).  0, or
 * -errno with xlb_errmsg() saying why (no live table).
 */
int xlb_flow_explain(const struct xlb_ctl *c, const struct xlb_service_conf *s,
		     const struct xlb_flow_key *k, struct xlb_flow_explain *out);

#endif
