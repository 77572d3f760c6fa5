/* The options an interface was attached with, for attaching it again; see attachrec.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "attachrec.h"
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "netutil.h"

/* STATE/DEV/attach.json; the directories made (and checked) like the history's. */
static int rec_path(const char *state_root, const char *ifname, bool make, char *out,
		    size_t len)
{
	char hist[512];
	int err = make ? xlb_history_dir(state_root, ifname, hist, sizeof(hist)) : 0;

	snprintf(out, len, "%s/%s/attach.json", state_root, ifname);
	return err;
}

static json_t *rate_json(__u32 rate, __u32 none, const char *none_name)
{
	return rate == none ? json_string(none_name) : json_integer(rate);
}

static json_t *src_json(const union xlb_addr *a, __u8 family)
{
	char buf[INET6_ADDRSTRLEN];

	return xlb_addr_is_zero(a) ? json_null() : json_string(xlb_addr_str(a, family, buf,
									       sizeof(buf)));
}

int xlb_attach_rec_save(const char *state_root, const char *ifname)
{
	struct xlb_status st;
	char path[600], *text;
	json_t *j;
	int err;

	err = xlb_status_get(ifname, &st) ?: rec_path(state_root, ifname, true, path, sizeof(path));
	if (err)
		return err;
	j = json_pack("{s:i,s:s,s:s,s:i,s:o,s:o,s:o,s:o}", "version", XLB_ATTACH_REC_VERSION,
		      "ifname", ifname, "mode", xlb_mode_name(st.mode), "flows", st.flows_max,
		      "flow_rate", rate_json(st.flow_rate, XLB_FLOW_RATE_UNLIMITED, "unlimited"),
		      "icmp_rate", rate_json(st.icmp_rate, XLB_ICMP_RATE_OFF, "off"),
		      "src4", src_json(&st.src4, XLB_FAMILY_V4),
		      "src6", src_json(&st.src6, XLB_FAMILY_V6));
	text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text)
		return xlb_errf(-ENOMEM, "out of memory");
	err = xlb_write_state_file(path, text, strlen(text), 0600);
	free(text);
	if (err)
		return xlb_errf(err, "cannot record the attach options in %s: %s", path, xlb_errmsg());
	return 0;
}

/* A rate field: a number in 1..max or the word for none. */
static int rate_of(json_t *v, const char *none_name, __u32 none, __u32 max, __u32 *out)
{
	if (json_is_string(v) && !strcmp(json_string_value(v), none_name)) {
		*out = none;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
		return -EINVAL;
	*out = json_integer_value(v);
	return 0;
}

/* A source field: null or an address of family. */
static int src_of(json_t *v, __u8 want, char *out, size_t len)
{
	union xlb_addr a;
	__u8 family;

	out[0] = '\0';
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v) || xlb_addr_parse(json_string_value(v), &a, &family) ||
	    family != want)
		return -EINVAL;
	snprintf(out, len, "%s", json_string_value(v));
	return 0;
}

static int rec_fields(json_t *j, const char *ifname, struct xlb_attach_rec *r, const char **bad)
{
	json_t *v;

	memset(r, 0, sizeof(*r));
	snprintf(r->ifname, sizeof(r->ifname), "%s", ifname);
	v = json_object_get(j, "version");
	if (!json_is_integer(v) || json_integer_value(v) != XLB_ATTACH_REC_VERSION)
		return *bad = "version (1 expected)", -EINVAL;
	v = json_object_get(j, "mode");
	if (!json_is_string(v) || xlb_mode_parse(json_string_value(v), &r->mode))
		return *bad = "mode", -EINVAL;
	v = json_object_get(j, "flows");
	if (!json_is_integer(v) || json_integer_value(v) < 1024 ||
	    json_integer_value(v) > (64 << 20))
		return *bad = "flows", -EINVAL;
	r->flows = json_integer_value(v);
	if (rate_of(json_object_get(j, "flow_rate"), "unlimited", XLB_FLOW_RATE_UNLIMITED,
		    100000000, &r->flow_rate))
		return *bad = "flow_rate", -EINVAL;
	if (rate_of(json_object_get(j, "icmp_rate"), "off", XLB_ICMP_RATE_OFF, 1000000,
		    &r->icmp_rate))
		return *bad = "icmp_rate", -EINVAL;
	if (src_of(json_object_get(j, "src4"), XLB_FAMILY_V4, r->src4, sizeof(r->src4)))
		return *bad = "src4", -EINVAL;
	if (src_of(json_object_get(j, "src6"), XLB_FAMILY_V6, r->src6, sizeof(r->src6)))
		return *bad = "src6", -EINVAL;
	return 0;
}

int xlb_attach_rec_load(const char *state_root, const char *ifname, struct xlb_attach_rec *r)
{
	const char *bad = "";
	json_error_t e;
	char path[600];
	json_t *j;
	int err;

	rec_path(state_root, ifname, false, path, sizeof(path));
	if (access(path, F_OK))
		return xlb_errf(-ENOENT, "no attach options recorded for %s (%s)", ifname, path);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!j)
		return xlb_errf(-EINVAL, "%s is damaged: line %d: %s", path, e.line, e.text);
	err = json_is_object(j) ? rec_fields(j, ifname, r, &bad) : (bad = "(not an object)", -EINVAL);
	json_decref(j);
	if (err)
		return xlb_errf(err, "%s is damaged: %s", path, bad);
	return 0;
}

int xlb_attach_rec_forget(const char *state_root, const char *ifname)
{
	char path[600];

	rec_path(state_root, ifname, false, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		return xlb_errf(-errno, "cannot remove %s: %s", path, strerror(errno));
	xlb_fsync_dir_of(path);	/* best effort: the file is gone */
	return 0;
}

int xlb_attach_rec_list(const char *state_root, char (*names)[IF_NAMESIZE], int max)
{
	char path[600];
	struct dirent *de;
	DIR *d = opendir(state_root);
	int n = 0;

	while (d && (de = readdir(d)) && n < max) {
		if (de->d_name[0] == '.' || strlen(de->d_name) >= IF_NAMESIZE)
			continue;
		snprintf(path, sizeof(path), "%s/%s/attach.json", state_root, de->d_name);
		if (!access(path, F_OK))
			snprintf(names[n++], IF_NAMESIZE, "%s", de->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

void xlb_attach_rec_opts(const struct xlb_attach_rec *r, struct xlb_attach_opts *o)
{
	*o = (struct xlb_attach_opts){ .ifname = r->ifname, .mode = r->mode, .flows = r->flows,
		.src4 = r->src4[0] ? r->src4 : NULL, .src6 = r->src6[0] ? r->src6 : NULL,
		.flow_rate = r->flow_rate, .icmp_rate = r->icmp_rate };
}
