/* The health block's issue-25 options: parse, validate, canonical form. */
#ifndef XLB_CONFIGHEALTH_H
#define XLB_CONFIGHEALTH_H

#include <stdbool.h>
#include <netinet/in.h>
#include <jansson.h>
#include "config.h"

/* via, host, expect_status, body_match, verify, ca_file, query, qtype,
 * expect_rcode, expect_answer of h (an object; out->type set). */
void xlb_health_parse_more(json_t *h, const char *path, __u8 family, struct xlb_health *out,
			   struct xlb_diags *d);
/* What needs the service: its protocol's check types, qtype and answer agree. */
void xlb_health_validate_more(const struct xlb_service_conf *s, const char *path,
			      struct xlb_diags *d);
/* Add the options not at their defaults to o (existing fingerprints stay). */
void xlb_health_form_more(const struct xlb_health *h, __u8 family, json_t *o);
/* The check accepts this HTTP status (200-399 when expect_status is not given). */
bool xlb_health_status_ok(const struct xlb_health *h, long status);
const char *xlb_dns_rcode_name(unsigned int rcode);
const char *xlb_dns_qtype_name(__u16 qtype);

#endif
