/* The fleet's health verdicts from the nodes' views: a pure function (fleetverdict.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fleetverdict.h"
#include "health.h"
#include "netutil.h"

/* One backend as the nodes see it. */
struct tally {
	unsigned int up, down;
	__u32 fail_run;			/* the longest failure run a node reports */
};

/* The nodes' votes on SERVICE ADDRESS: a view that is an object with a boolean "up". */
static struct tally count_votes(json_t *nodes, const char *service, const char *address)
{
	struct tally t = { 0 };
	const char *node;
	json_t *rec;

	json_object_foreach(nodes, node, rec) {
		json_t *svc = json_object_get(json_object_get(rec, "views"), service);
		json_t *v = json_is_object(svc) ? json_object_get(svc, address) : NULL;
		json_t *up = json_object_get(v, "up"), *run = json_object_get(v, "fail_run");

		if (!json_is_object(v) || !json_is_boolean(up))
			continue;
		if (json_is_true(up)) {
			t.up++;
			continue;
		}
		t.down++;
		if (json_is_integer(run) && json_integer_value(run) > t.fail_run &&
		    json_integer_value(run) <= UINT32_MAX)
			t.fail_run = json_integer_value(run);
	}
	(void)node;
	return t;
}

bool xlb_fleet_record_down(json_t *record, const char *service, const char *address)
{
	json_t *list = json_object_get(json_object_get(record, "down"), service), *a;
	size_t i;

	json_array_foreach(list, i, a)
		if (json_is_string(a) && !strcmp(json_string_value(a), address))
			return true;
	return false;
}

static unsigned int count_of(json_t *v, const char *key)
{
	json_t *n = json_object_get(v, key);

	return json_is_integer(n) && json_integer_value(n) >= 0 &&
	       json_integer_value(n) <= UINT32_MAX ? json_integer_value(n) : 0;
}

void xlb_fleet_record_views(json_t *record, const char *service, const char *address,
			    unsigned int *up, unsigned int *down)
{
	json_t *svc = json_object_get(json_object_get(record, "views"), service);
	json_t *v = json_is_object(svc) ? json_object_get(svc, address) : NULL;

	*up = count_of(v, "up");
	*down = count_of(v, "down");
}

static bool in_floor(json_t *record, const char *service)
{
	json_t *floor = json_object_get(record, "floor"), *s;
	size_t i;

	json_array_foreach(floor, i, s)
		if (json_is_string(s) && !strcmp(json_string_value(s), service))
			return true;
	return false;
}

static int add_change(struct xlb_fleet_verdict *out, const char *service, const char *backend,
		      bool down, const char *why)
{
	struct xlb_fleet_change *c = realloc(out->changes, (out->nr_changes + 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	out->changes = c;
	c = &c[out->nr_changes++];
	memset(c, 0, sizeof(*c));
	snprintf(c->service, sizeof(c->service), "%s", service);
	snprintf(c->backend, sizeof(c->backend), "%s", backend);
	c->down = down;
	snprintf(c->why, sizeof(c->why), "%s", why);
	return 0;
}

/* A backend's change, said: its votes, and the floor when it kept it in. */
static int say_change(struct xlb_fleet_verdict *out, const struct xlb_service_conf *sc, __u32 j,
		      const char *address, const struct tally *t, bool down, bool floored)
{
	unsigned int voters = t->up + t->down;
	char why[200];

	if (!down && sc->backends[j].state != XLB_BACKEND_ACTIVE)
		snprintf(why, sizeof(why), "its configuration has it %s",
			 xlb_state_name(sc->backends[j].state));
	else if (!voters)
		snprintf(why, sizeof(why), "no node checks it");
	else if (floored)
		snprintf(why, sizeof(why), "%u of %u nodes see it down; kept in by the min_active "
			 "floor (%u) of service %s (fail open)", t->down, voters,
			 sc->guards.min_active, sc->name);
	else
		snprintf(why, sizeof(why), "%u of %u nodes see it %s", down ? t->down : t->up, voters,
			 down ? "down" : "up");
	return add_change(out, sc->name, address, down, why);
}

/* One checked service: its views, its down list, its floor, its changes. */
static int judge_service(json_t *nodes, const struct xlb_service_conf *sc, json_t *prev,
			 struct xlb_fleet_verdict *out)
{
	__u32 n = sc->nr_backends;
	struct xlb_service_conf copy = *sc;
	struct xlb_health_view *v = calloc(n + 1, sizeof(*v));
	const struct xlb_health_view **views = calloc(n + 1, sizeof(*views));
	struct tally *t = calloc(n + 1, sizeof(*t));
	bool *held = calloc(n + 1, sizeof(*held)), hit = false;
	json_t *sv = json_object(), *down = json_array();
	char (*addr)[INET6_ADDRSTRLEN] = calloc(n + 1, sizeof(*addr));
	int err = -ENOMEM;

	copy.backends = calloc(n + 1, sizeof(*copy.backends));
	if (!v || !views || !t || !held || !sv || !down || !addr || !copy.backends)
		goto out;
	memcpy(copy.backends, sc->backends, n * sizeof(*copy.backends));
	for (__u32 j = 0; j < n; j++) {
		unsigned int voters;

		xlb_addr_str(&sc->backends[j].addr, sc->backends[j].family, addr[j], sizeof(addr[j]));
		t[j] = count_votes(nodes, sc->name, addr[j]);
		voters = t[j].up + t[j].down;
		/* no voter: the previous record's state stands */
		v[j].up = voters ? 2 * t[j].down <= voters :
			  !xlb_fleet_record_down(prev, sc->name, addr[j]);
		v[j].fail_run = t[j].fail_run;
		views[j] = &v[j];
		if (voters)
			json_object_set_new(sv, addr[j], json_pack("{s:i,s:i}", "up", t[j].up,
								   "down", t[j].down));
	}
	xlb_health_overlay(&copy, views, held, &hit);
	for (__u32 j = 0; j < n; j++) {
		bool was = xlb_fleet_record_down(prev, sc->name, addr[j]);

		if (held[j])
			json_array_append_new(down, json_string(addr[j]));
		if (held[j] != was && say_change(out, sc, j, addr[j], &t[j], held[j], false))
			goto out;
		if (!held[j] && !was && !v[j].up && hit &&
		    !in_floor(prev, sc->name) && say_change(out, sc, j, addr[j], &t[j], false, true))
			goto out;
	}
	if (json_array_size(down))
		json_object_set(out->down, sc->name, down);
	if (json_object_size(sv))
		json_object_set(out->views, sc->name, sv);
	if (hit)
		json_array_append_new(out->floor, json_string(sc->name));
	err = 0;
out:
	free(v);
	free(views);
	free(t);
	free(held);
	free(addr);
	free(copy.backends);
	json_decref(sv);
	json_decref(down);
	return err;
}

/* A part of the new record against the previous one's (absent: empty). */
static bool differs(json_t *now, json_t *before)
{
	if (!before)
		return json_is_object(now) ? json_object_size(now) > 0 : json_array_size(now) > 0;
	return !json_equal(now, before);
}

int xlb_fleet_judge(json_t *nodes, const struct xlb_config *cfg, json_t *prev,
		    struct xlb_fleet_verdict *out)
{
	const char *svc;
	json_t *list;
	size_t i;
	json_t *a;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->down = json_object();
	out->floor = json_array();
	out->views = json_object();
	if (!out->down || !out->floor || !out->views)
		err = -ENOMEM;
	if (!json_is_object(nodes))
		nodes = NULL;
	for (__u32 s = 0; !err && s < cfg->nr_services; s++)
		if (cfg->services[s].health.type != XLB_HEALTH_NONE)
			err = judge_service(nodes, &cfg->services[s], prev, out);
	/* a backend the previous record held down that left the configuration */
	json_object_foreach(json_object_get(prev, "down"), svc, list) {
		const struct xlb_service_conf *sc = xlb_config_service(cfg, svc);

		json_array_foreach(list, i, a) {
			union xlb_addr ad;
			__u8 fam;

			if (err || !json_is_string(a))
				continue;
			if (sc && sc->health.type != XLB_HEALTH_NONE &&
			    !xlb_addr_parse(json_string_value(a), &ad, &fam) &&
			    xlb_service_backend(sc, &ad, fam))
				continue;
			err = add_change(out, svc, json_string_value(a), false,
					 "it left the configuration (or its health check)");
		}
	}
	out->changed = differs(out->down, json_object_get(prev, "down")) ||
		       differs(out->views, json_object_get(prev, "views")) ||
		       differs(out->floor, json_object_get(prev, "floor"));
	if (err)
		xlb_fleet_verdict_free(out);
	return err;
}

void xlb_fleet_verdict_free(struct xlb_fleet_verdict *v)
{
	json_decref(v->down);
	json_decref(v->floor);
	json_decref(v->views);
	free(v->changes);
	memset(v, 0, sizeof(*v));
}
