/* Names of counters, in enum order (designated initialisers keep them honest). */
#include "names.h"

const char *const xlb_stat_names[XLB_STAT_MAX] = {
	[XLB_STAT_TX]			= "tx",
	[XLB_STAT_REDIRECT]		= "redirect",
	[XLB_PASS_NOT_IP]		= "not_ip",
	[XLB_PASS_VLAN_STACKED]		= "vlan_stacked",
	[XLB_PASS_NOT_VIP]		= "not_vip",
	[XLB_PASS_NO_SERVICE]		= "no_service",
	[XLB_PASS_IPIP_TO_VIP]		= "ipip_to_vip",
	[XLB_PASS_ICMP_TO_VIP]		= "icmp_to_vip",
	[XLB_PASS_IPV6_EXT_LIMIT]	= "ipv6_ext_limit",
	[XLB_PASS_NO_NEIGH]		= "no_neigh",
	[XLB_DROP_MALFORMED_L2]		= "malformed_l2",
	[XLB_DROP_MALFORMED_L3]		= "malformed_l3",
	[XLB_DROP_MALFORMED_L4]		= "malformed_l4",
	[XLB_DROP_MALFORMED_ICMP]	= "malformed_icmp",
	[XLB_DROP_FRAGMENT]		= "fragment",
	[XLB_DROP_IPV6_EXT_LIMIT]	= "ipv6_ext_limit",
	[XLB_DROP_NO_BACKEND]		= "no_backend",
	[XLB_DROP_TOO_BIG]		= "too_big",
	[XLB_DROP_FIB]			= "fib_failure",
	[XLB_DROP_FAMILY]		= "family_mismatch",
	[XLB_DROP_NO_SOURCE]		= "no_tunnel_source",
	[XLB_DROP_ENCAP]		= "encap_failure",
	[XLB_DROP_INTERNAL]		= "internal",
	[XLB_REPLY_TOO_BIG]		= "too_big",
	[XLB_DROP_COALESCED]		= "coalesced",
	[XLB_DROP_NO_NEIGH_L2]		= "no_neigh_l2",
	[XLB_DROP_L2_GATEWAY]		= "l2_gateway",
};

const char *const xlb_event_names[XLB_EV_MAX] = {
	[XLB_EV_FLOW_NEW]	= "flow_new",
	[XLB_EV_FLOW_HIT]	= "flow_hit",
	[XLB_EV_FLOW_REHASH]	= "flow_rehash",
	[XLB_EV_RST_NO_FLOW]	= "rst_no_flow",
	[XLB_EV_ICMP_PTB]	= "icmp_too_big",
};

const char *const xlb_decap_names[XLB_DECAP_MAX] = {
	[XLB_DECAP_V4]		= "decap_v4",
	[XLB_DECAP_V6]		= "decap_v6",
	[XLB_DECAP_PASS]	= "pass",
	[XLB_DECAP_MALFORMED]	= "malformed",
	[XLB_DECAP_UNTRUSTED]	= "untrusted_source",
	[XLB_DECAP_CHANCE_LOCAL] = "second_chance_local",
	[XLB_DECAP_CHANCE_FORWARD] = "second_chance_forwarded",
	[XLB_DECAP_CHANCE_NO_ROUTE] = "second_chance_no_route",
	[XLB_DECAP_CHANCE_NOT_PEER] = "second_chance_not_peer",
	[XLB_DECAP_GUE_V4]	= "gue_v4",
	[XLB_DECAP_GUE_V6]	= "gue_v6",
};

const char *xlb_stat_kind(unsigned int reason)
{
	if (reason == XLB_REPLY_TOO_BIG)
		return "reply";
	if (reason <= XLB_STAT_REDIRECT)
		return "forward";
	if (reason <= XLB_PASS_NO_NEIGH)
		return "pass";
	return "drop";
}
