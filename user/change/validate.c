/*
 * Semantic validation of a parsed configuration, before anything touches a
 * map: addresses, families, duplicates, weights, table sizes, map limits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

static bool addr_usable(const union xlb_addr *a, __u8 family, const char **why)
{
	if (family == XLB_FAMILY_V4) {
		__u32 h = ntohl(a->v4);

		if (h == 0)
			return *why = "the unspecified address", false;
		if ((h >> 28) == 0xe)
			return *why = "a multicast address", false;
		if (h == 0xffffffff)
			return *why = "the broadcast address", false;
		if ((h >> 24) == 0)
			return *why = "in 0.0.0.0/8 (this network)", false;
		if ((h >> 28) == 0xf)
			return *why = "in 240.0.0.0/4 (reserved)", false;
		return true;
	}
	if (!(a->v6[0] | a->v6[1] | a->v6[2] | a->v6[3]))
		return *why = "the unspecified address", false;
	if (((const __u8 *)a->v6)[0] == 0xff)
		return *why = "a multicast address", false;
	return true;
}

static void check_addr(const union xlb_addr *a, __u8 family, const char *path,
		       struct xlb_diags *d)
{
	char s[INET6_ADDRSTRLEN];
	const char *why = NULL;

	if (family && !addr_usable(a, family, &why))
		xlb_diag_add(d, path, "\"%s\": %s cannot be used", inet_ntop(family == 4 ? AF_INET :
			     AF_INET6, a, s, sizeof(s)), why);
}

static int cmp_index(const void *x, const void *y, void *ctx)
{
	const struct xlb_service_conf *sorting = ctx;
	const struct xlb_backend_conf *a = &sorting->backends[*(const __u32 *)x];
	const struct xlb_backend_conf *b = &sorting->backends[*(const __u32 *)y];
	int c = a->family != b->family ? a->family - b->family :
		memcmp(&a->addr, &b->addr, sizeof(a->addr));

	return c ? c : (*(const __u32 *)x > *(const __u32 *)y) - (*(const __u32 *)x < *(const __u32 *)y);
}

/* Duplicate addresses by sorting, not by pairs: n log n for 4095 backends. */
static void check_duplicate_backends(const struct xlb_service_conf *s, const char *path,
				     struct xlb_diags *d)
{
	__u32 *idx = malloc(sizeof(*idx) * (s->nr_backends + 1)), first = 0;
	char p[192], a[INET6_ADDRSTRLEN];

	if (!idx)
		return xlb_diag_add(d, path, "out of memory checking for duplicates");
	for (__u32 i = 0; i < s->nr_backends; i++)
		idx[i] = i;
	qsort_r(idx, s->nr_backends, sizeof(*idx), cmp_index, (void *)s);
	for (__u32 k = 1; k < s->nr_backends; k++) {
		const struct xlb_backend_conf *b = &s->backends[idx[k]];
		const struct xlb_backend_conf *prev = &s->backends[idx[k - 1]];

		if (!b->family || b->family != prev->family ||
		    memcmp(&b->addr, &prev->addr, sizeof(b->addr))) {
			first = k;
			continue;
		}
		snprintf(p, sizeof(p), "%s.backends[%u].address", path, idx[k]);
		xlb_diag_add(d, p, "\"%s\": duplicate of backends[%u]",
			     inet_ntop(b->family == 4 ? AF_INET : AF_INET6, &b->addr, a, sizeof(a)),
			     idx[first]);
	}
	free(idx);
}

/* Why a backend has the VIP's family, by forwarding mode. */
static const char *family_why(__u8 forward)
{
	switch (forward) {
	case XLB_FWD_GUE:
		return "GUE keeps the family: the outer header is the VIP's";
	case XLB_FWD_L2:
		return "L2 direct return finds the backend's MAC by its address in the VIP's "
		       "family, and the backend takes the packet to the VIP as it is";
	}
	return "IP-in-IP keeps the family: IPv4 in IPv4, IPv6 in IPv6";
}

static void check_backends(const struct xlb_service_conf *s, const char *path,
			   struct xlb_diags *d)
{
	__u32 active = 0, weighted = 0;
	char p[192], a[INET6_ADDRSTRLEN];

	for (__u32 i = 0; i < s->nr_backends; i++) {
		const struct xlb_backend_conf *b = &s->backends[i];

		if (!b->family)
			continue;
		snprintf(p, sizeof(p), "%s.backends[%u].address", path, i);
		check_addr(&b->addr, b->family, p, d);
		if (s->family && b->family != s->family)
			xlb_diag_add(d, p, "\"%s\": IPv%d backend for an IPv%d VIP (%s)",
				     inet_ntop(b->family == 4 ? AF_INET : AF_INET6, &b->addr, a,
					       sizeof(a)), b->family, s->family, family_why(s->forward));
		if (b->state == XLB_BACKEND_ACTIVE) {
			active++;
			weighted += b->weight > 0;
		}
	}
	check_duplicate_backends(s, path, d);
	if (active > 1 && !weighted) {
		snprintf(p, sizeof(p), "%s.backends", path);
		xlb_diag_add(d, p, "all %u active backends have weight 0: no backend would take "
			     "new flows", active);
	}
}

static void check_table(const struct xlb_service_conf *s, const char *path, struct xlb_diags *d)
{
	char p[192];

	snprintf(p, sizeof(p), "%s.table_size", path);
	if (!xlb_is_prime(s->table_size))
		xlb_diag_add(d, p, "%u: must be a prime (65537, 131071, 262147 ...)", s->table_size);
	else if ((__u64)s->table_size < 100ull * s->nr_backends)
		xlb_diag_add(d, p, "%u: must be at least 100 x %u backends = %u for an even "
			     "spread", s->table_size, s->nr_backends, 100 * s->nr_backends);
}

/*
 * The forwarding settings of a configuration that was not parsed from a file
 * (one built or edited in code): the parser already refuses these.  What is
 * not refused, by design: "l2" with port 0 (all ports: the frame goes to the
 * backend unchanged, so it takes the VIP on every port the service takes),
 * "l2" with IPv6 (neighbour discovery finds the MAC as ARP does for IPv4),
 * any "hash" with any protocol and port ("src-dport" on a one-port service
 * places flows as "src" does).
 */
static void check_forwarding(const struct xlb_service_conf *s, const char *path,
			     struct xlb_diags *d)
{
	char p[192];

	snprintf(p, sizeof(p), "%s.forward", path);
	if (s->forward > XLB_FWD_MAX)
		xlb_diag_add(d, p, "%u: not a forwarding mode (ipip, gue, l2)", s->forward);
	snprintf(p, sizeof(p), "%s.hash", path);
	if (s->hash_fields > XLB_HASH_FIELDS_MAX)
		xlb_diag_add(d, p, "%u: not a hash (5-tuple, src, src-dport)", s->hash_fields);
	snprintf(p, sizeof(p), "%s.gue_port", path);
	if (s->gue_port && s->forward != XLB_FWD_GUE)
		xlb_diag_add(d, p, "%u: only a service with \"forward\": \"gue\" has a GUE port",
			     s->gue_port);
}

static void check_health(const struct xlb_service_conf *s, const char *path,
			 struct xlb_diags *d)
{
	char p[192];

	if (s->health.type == XLB_HEALTH_NONE)
		return;
	snprintf(p, sizeof(p), "%s.health.timeout_ms", path);
	if (s->health.timeout_ms >= s->health.interval_ms)
		xlb_diag_add(d, p, "%u: must be below interval_ms (%u)", s->health.timeout_ms,
			     s->health.interval_ms);
	snprintf(p, sizeof(p), "%s.health.port", path);
	if (!s->health.port && !s->port)
		xlb_diag_add(d, p, "missing: the service takes all ports, so the check needs one");
	xlb_health_validate_more(&s->health, s->proto, path, d);
}

static void check_duplicates(const struct xlb_config *cfg, __u32 i, const char *path,
			     struct xlb_diags *d)
{
	const struct xlb_service_conf *s = &cfg->services[i];
	char p[192];

	for (__u32 j = 0; j < i; j++) {
		const struct xlb_service_conf *o = &cfg->services[j];

		if (s->name[0] && !strcmp(s->name, o->name)) {
			snprintf(p, sizeof(p), "%s.name", path);
			xlb_diag_add(d, p, "\"%s\": duplicate of services[%u]", s->name, j);
		}
		if (s->family && s->family == o->family && s->port == o->port &&
		    s->proto == o->proto && !memcmp(&s->vip, &o->vip, sizeof(s->vip))) {
			snprintf(p, sizeof(p), "%s.vip", path);
			xlb_diag_add(d, p, "same VIP, port %u and protocol %s as services[%u]",
				     s->port, xlb_proto_name(s->proto), j);
		}
	}
}

/* The tables' budget: the first service past it names the total and the limit. */
static void check_table_budget(const struct xlb_config *cfg, struct xlb_diags *d)
{
	__u64 total = 0;
	char p[64];

	for (__u32 i = 0; i < cfg->nr_services; i++) {
		total += cfg->services[i].table_size;
		if (total <= XLB_MAX_TABLE_ENTRIES)
			continue;
		snprintf(p, sizeof(p), "services[%u].table_size", i);
		xlb_diag_add(d, p, "%u: services[0..%u] would hold %llu table entries in all, "
			     "above the limit of %llu (%u services of %u, %llu MiB per slot); "
			     "make tables smaller", cfg->services[i].table_size, i,
			     (unsigned long long)total, (unsigned long long)XLB_MAX_TABLE_ENTRIES,
			     XLB_MAX_SERVICES, XLB_DEFAULT_TABLE_SIZE,
			     (unsigned long long)(XLB_MAX_TABLE_ENTRIES * 4) >> 20);
		return;
	}
}

/* Map capacities: services, VIPs, backend ids, table entries. */
static void check_limits(const struct xlb_config *cfg, struct xlb_diags *d)
{
	__u32 backends = 0, vips = 0;

	for (__u32 i = 0; i < cfg->nr_services; i++) {
		bool seen = false;

		backends += cfg->services[i].nr_backends;
		for (__u32 j = 0; j < i && !seen; j++)
			seen = cfg->services[j].family == cfg->services[i].family &&
			       !memcmp(&cfg->services[j].vip, &cfg->services[i].vip,
				       sizeof(cfg->services[i].vip));
		vips += !seen;
	}
	if (cfg->nr_services > XLB_MAX_SERVICES)
		xlb_diag_add(d, "services", "%u services: at most %u fit the maps",
			     cfg->nr_services, XLB_MAX_SERVICES);
	if (vips > XLB_MAX_VIPS)
		xlb_diag_add(d, "services", "%u distinct VIPs: at most %u fit the maps", vips,
			     XLB_MAX_VIPS);
	if (backends > XLB_MAX_BACKENDS - 1)
		xlb_diag_add(d, "services", "%u backends in all: at most %u fit the maps",
			     backends, XLB_MAX_BACKENDS - 1);
	check_table_budget(cfg, d);
}

int xlb_config_validate(const struct xlb_config *cfg, struct xlb_diags *d)
{
	__u32 before = d->count;
	char path[64];

	for (__u32 i = 0; i < cfg->nr_services; i++) {
		const struct xlb_service_conf *s = &cfg->services[i];
		char p[96];

		snprintf(path, sizeof(path), "services[%u]", i);
		snprintf(p, sizeof(p), "%s.vip", path);
		check_addr(&s->vip, s->family, p, d);
		check_duplicates(cfg, i, path, d);
		check_backends(s, path, d);
		check_table(s, path, d);
		check_forwarding(s, path, d);
		check_health(s, path, d);
	}
	check_limits(cfg, d);
	return d->count > before ? -EINVAL : 0;
}
