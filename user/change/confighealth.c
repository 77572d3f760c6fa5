/*
 * The health block's options of issue 25 (via, and those of http, https and
 * dns checks): parsed with the path of each value, each option only for the
 * types it belongs to, and shown in the canonical form only when not default.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <strings.h>
#include "healthconf.h"
#include "netutil.h"

static const char *const via_names[] = { "tunnel", "direct", NULL };

static const struct { const char *name; __u16 type; } qtypes[] = {
	{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 }, { "MX", 15 },
	{ "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { NULL, 0 } };

static const char *const rcode_names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					   "NOTIMP", "REFUSED", NULL };

const char *xlb_dns_rcode_name(unsigned int rcode)
{
	return rcode < 6 ? rcode_names[rcode] : "RCODE?";
}

const char *xlb_dns_qtype_name(__u16 qtype)
{
	for (int i = 0; qtypes[i].name; i++)
		if (qtypes[i].type == qtype)
			return qtypes[i].name;
	return "?";
}

static void at(char *out, size_t len, const char *path, const char *key)
{
	snprintf(out, len, "%s.%s", path, key);
}

/* key given for a type it does not belong to: an error naming the types it does */
static bool misplaced(json_t *h, const char *key, const char *path, bool allowed,
		      const char *owners, struct xlb_diags *d)
{
	char p[160];

	if (!json_object_get(h, key) || allowed)
		return !json_object_get(h, key);
	at(p, sizeof(p), path, key);
	xlb_diag_add(d, p, "only %s has %s", owners, key);
	return true;
}

/* A string of 1..XLB_HEALTH_TEXT_MAX-1 bytes, copied to out; false on error. */
static bool text(json_t *h, const char *key, const char *path, char *out, size_t len,
		 struct xlb_diags *d)
{
	json_t *v = json_object_get(h, key);
	char p[160];

	at(p, sizeof(p), path, key);
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		xlb_diag_add(d, p, "must be a string of 1..%zu bytes", len - 1);
		return false;
	}
	snprintf(out, len, "%s", json_string_value(v));
	return true;
}

/* A DNS name: labels of letters, digits, '-' and '_', 63 bytes each, 253 in all. */
static bool dns_name(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (!n || n > 253 || !strcmp(s, "."))
		return n == 1;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* "200" or "200-399" (or an integer) into r; false when not one. */
static bool status_range(json_t *v, struct xlb_status_range *r)
{
	int lo, hi, end = 0;

	if (json_is_integer(v)) {
		lo = hi = json_integer_value(v) > 1000 ? 0 : json_integer_value(v);
	} else if (json_is_string(v) &&
		   sscanf(json_string_value(v), "%3d-%3d%n", &lo, &hi, &end) == 2 &&
		   end && !json_string_value(v)[end]) {
	} else if (json_is_string(v) && sscanf(json_string_value(v), "%3d%n", &lo, &end) == 1 &&
		   !json_string_value(v)[end]) {
		hi = lo;
	} else {
		return false;
	}
	if (lo < 100 || hi > 599 || lo > hi)
		return false;
	r->lo = lo;
	r->hi = hi;
	return true;
}

static void parse_status(json_t *h, const char *path, struct xlb_health *out,
			 struct xlb_diags *d)
{
	json_t *a = json_object_get(h, "expect_status"), *v;
	char p[160];
	size_t i;

	at(p, sizeof(p), path, "expect_status");
	if (!json_is_array(a) || !json_array_size(a) || json_array_size(a) > XLB_HEALTH_STATUS_MAX) {
		xlb_diag_add(d, p, "must be a list of 1..%d statuses (200) or ranges (\"200-399\")",
			     XLB_HEALTH_STATUS_MAX);
		return;
	}
	json_array_foreach(a, i, v) {
		char vp[176];

		snprintf(vp, sizeof(vp), "%s[%zu]", p, i);
		if (!status_range(v, &out->expect_status[i])) {
			xlb_diag_add(d, vp, "must be a status 100..599 or a range \"NNN-MMM\" of them");
			return;
		}
	}
	out->nr_expect_status = json_array_size(a);
}

static void parse_http(json_t *h, const char *path, struct xlb_health *out,
		       struct xlb_diags *d)
{
	bool http = out->type == XLB_HEALTH_HTTP || out->type == XLB_HEALTH_HTTPS;
	bool https = out->type == XLB_HEALTH_HTTPS;
	json_t *v;
	char p[160];

	if (!misplaced(h, "host", path, http, "an http or https check", d) &&
	    text(h, "host", path, out->host, sizeof(out->host), d) && !dns_name(out->host)) {
		at(p, sizeof(p), path, "host");
		xlb_diag_add(d, p, "\"%s\": must be a host name (letters, digits, '-', '.')",
			     out->host);
		out->host[0] = '\0';
	}
	if (!misplaced(h, "expect_status", path, http, "an http or https check", d))
		parse_status(h, path, out, d);
	if (!misplaced(h, "body_match", path, http, "an http or https check", d))
		text(h, "body_match", path, out->body_match, sizeof(out->body_match), d);
	if (!misplaced(h, "verify", path, https, "an https check", d)) {
		v = json_object_get(h, "verify");
		at(p, sizeof(p), path, "verify");
		if (!json_is_boolean(v))
			xlb_diag_add(d, p, "must be true or false");
		else
			out->verify = json_is_true(v);
	}
	if (https && out->verify && !out->host[0]) {
		/* the VIP's or the backend's address would be verified: few certificates name one */
		at(p, sizeof(p), path, "host");
		xlb_diag_add(d, p, "an https check that verifies needs the name its certificates "
			     "carry (\"host\"), or \"verify\": false");
	}
	if (!misplaced(h, "ca_file", path, https, "an https check", d) &&
	    text(h, "ca_file", path, out->ca_file, sizeof(out->ca_file), d) &&
	    out->ca_file[0] != '/') {
		at(p, sizeof(p), path, "ca_file");
		xlb_diag_add(d, p, "\"%s\": must be an absolute path", out->ca_file);
	}
}

static int name_index(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (!strcasecmp(s, names[i]))
			return i;
	return -1;
}

static void parse_qtype(json_t *h, const char *path, struct xlb_health *out,
			struct xlb_diags *d)
{
	json_t *v = json_object_get(h, "qtype");
	char p[160];

	at(p, sizeof(p), path, "qtype");
	for (int i = 0; json_is_string(v) && qtypes[i].name; i++)
		if (!strcasecmp(json_string_value(v), qtypes[i].name)) {
			out->qtype = qtypes[i].type;
			return;
		}
	xlb_diag_add(d, p, "must be a record type: A, AAAA, NS, CNAME, SOA, PTR, MX, TXT or SRV");
}

static void parse_dns(json_t *h, const char *path, __u8 family, struct xlb_health *out,
		      struct xlb_diags *d)
{
	bool dns = out->type == XLB_HEALTH_DNS;
	json_t *v;
	char p[160];
	int rc;

	out->qtype = family == XLB_FAMILY_V6 ? 28 : 1;
	at(p, sizeof(p), path, "query");
	if (dns && !json_object_get(h, "query"))
		xlb_diag_add(d, p, "missing (the name a dns check asks)");
	if (!misplaced(h, "query", path, dns, "a dns check", d) &&
	    text(h, "query", path, out->query, sizeof(out->query), d) && !dns_name(out->query))
		xlb_diag_add(d, p, "\"%s\": must be a DNS name", out->query);
	if (!misplaced(h, "qtype", path, dns, "a dns check", d))
		parse_qtype(h, path, out, d);
	if (!misplaced(h, "expect_rcode", path, dns, "a dns check", d)) {
		v = json_object_get(h, "expect_rcode");
		at(p, sizeof(p), path, "expect_rcode");
		rc = json_is_string(v) ? name_index(json_string_value(v), rcode_names) : -1;
		if (rc < 0)
			xlb_diag_add(d, p, "must be one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, "
				     "NOTIMP, REFUSED");
		else
			out->expect_rcode = rc;
	}
	if (misplaced(h, "expect_answer", path, dns, "a dns check", d))
		return;
	v = json_object_get(h, "expect_answer");
	at(p, sizeof(p), path, "expect_answer");
	if (!json_is_string(v) || xlb_addr_parse(json_string_value(v), &out->expect_answer,
						 &out->expect_answer_family))
		xlb_diag_add(d, p, "must be an IPv4 or IPv6 address (one the answer holds)");
	else
		out->has_expect_answer = true;
}

void xlb_health_parse_more(json_t *h, const char *path, __u8 family, struct xlb_health *out,
			   struct xlb_diags *d)
{
	json_t *v = json_object_get(h, "via");
	char p[160];
	int via;

	out->verify = true;
	at(p, sizeof(p), path, "via");
	via = json_is_string(v) ? name_index(json_string_value(v), via_names) : v ? -1 : 0;
	if (via < 0)
		xlb_diag_add(d, p, "must be \"tunnel\" (to the VIP through the backend's tunnel) "
			     "or \"direct\" (to the backend's address)");
	out->via = via < 0 ? XLB_VIA_TUNNEL : via;
	parse_http(h, path, out, d);
	parse_dns(h, path, family, out, d);
}

/* The rules that need the service: the protocol's checks, answer and qtype agree. */
void xlb_health_validate_more(const struct xlb_health *h, __u8 proto, const char *path,
			      struct xlb_diags *d)
{
	char p[192];

	snprintf(p, sizeof(p), "%s.health.type", path);
	/* a udp service may be checked over tcp, http or https on its health.port too
	   (QUIC's listener, say), as before issue 25 */
	if (proto != IPPROTO_UDP && h->type == XLB_HEALTH_DNS)
		xlb_diag_add(d, p, "\"dns\": only a udp service takes a dns check");
	snprintf(p, sizeof(p), "%s.health.expect_answer", path);
	if (h->has_expect_answer && h->qtype != 1 && h->qtype != 28)
		xlb_diag_add(d, p, "an answer address needs qtype A or AAAA (not %s)",
			     xlb_dns_qtype_name(h->qtype));
	else if (h->has_expect_answer &&
		 (h->qtype == 1) != (h->expect_answer_family == XLB_FAMILY_V4))
		xlb_diag_add(d, p, "an %s address cannot answer a %s query",
			     h->expect_answer_family == XLB_FAMILY_V4 ? "IPv4" : "IPv6",
			     xlb_dns_qtype_name(h->qtype));
	else if (h->has_expect_answer && h->expect_rcode)
		xlb_diag_add(d, p, "an answer is only expected with expect_rcode NOERROR");
}

static json_t *status_json(const struct xlb_health *h)
{
	json_t *a = json_array();
	char r[16];

	for (__u32 i = 0; i < h->nr_expect_status; i++) {
		const struct xlb_status_range *s = &h->expect_status[i];

		snprintf(r, sizeof(r), "%u-%u", s->lo, s->hi);
		json_array_append_new(a, s->lo == s->hi ? json_integer(s->lo) : json_string(r));
	}
	return a;
}

void xlb_health_form_more(const struct xlb_health *h, __u8 family, json_t *o)
{
	char a[64];

	if (h->via == XLB_VIA_DIRECT)
		json_object_set_new(o, "via", json_string("direct"));
	if (h->host[0])
		json_object_set_new(o, "host", json_string(h->host));
	if (h->nr_expect_status)
		json_object_set_new(o, "expect_status", status_json(h));
	if (h->body_match[0])
		json_object_set_new(o, "body_match", json_string(h->body_match));
	if (h->type == XLB_HEALTH_HTTPS && !h->verify)
		json_object_set_new(o, "verify", json_false());
	if (h->ca_file[0])
		json_object_set_new(o, "ca_file", json_string(h->ca_file));
	if (h->type != XLB_HEALTH_DNS)
		return;
	json_object_set_new(o, "query", json_string(h->query));
	if (h->qtype != (family == XLB_FAMILY_V6 ? 28 : 1))
		json_object_set_new(o, "qtype", json_string(xlb_dns_qtype_name(h->qtype)));
	if (h->expect_rcode)
		json_object_set_new(o, "expect_rcode",
				    json_string(xlb_dns_rcode_name(h->expect_rcode)));
	if (h->has_expect_answer)
		json_object_set_new(o, "expect_answer", json_string(xlb_addr_str(
				    &h->expect_answer, h->expect_answer_family, a, sizeof(a))));
}

/* Whether status is one the check accepts (200-399 when none given). */
bool xlb_health_status_ok(const struct xlb_health *h, long status)
{
	if (!h->nr_expect_status)
		return status >= 200 && status <= 399;
	for (__u32 i = 0; i < h->nr_expect_status; i++)
		if (status >= h->expect_status[i].lo && status <= h->expect_status[i].hi)
			return true;
	return false;
}
