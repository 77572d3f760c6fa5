/*
 * probe-check: one health check of the daemon's probes (user/daemon/probe.c)
 * against ADDR:PORT, driven by an epoll loop as the daemon's is.
 *   probe-check tcp|udp ADDR PORT HEALTH_JSON [COUNT]
 * HEALTH_JSON is a service's "health" block (validated as the configuration
 * is).  Prints "ok", "failed CLASS: WHY" or "unchecked: WHY" for each check;
 * exits 0 when all passed, 1 when one failed, 2 when one was not made or the
 * arguments are bad.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "probe.h"

static __u64 now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static int load(char **argv, struct xlb_config *cfg)
{
	struct xlb_diags d = { 0 };
	char text[4096];
	json_t *j;

	snprintf(text, sizeof(text), "{\"services\":[{\"name\":\"t\",\"vip\":\"%s\",\"port\":%s,"
		 "\"protocol\":\"%s\",\"backends\":[{\"address\":\"%s\"}],\"health\":%s}]}",
		 argv[2], argv[3], argv[1], argv[2], argv[4]);
	j = json_loads(text, 0, NULL);
	if (!j || xlb_config_from_json(j, cfg, &d) || xlb_config_validate(cfg, &d)) {
		for (__u32 i = 0; i < d.count; i++)
			fprintf(stderr, "probe-check: %s: %s\n", d.items[i].path, d.items[i].msg);
		if (!j)
			fprintf(stderr, "probe-check: not JSON: %s\n", text);
		return -1;
	}
	json_decref(j);
	xlb_diags_free(&d);
	return 0;
}

static enum xlb_probe_result check(struct xlb_probe *p, const struct xlb_probe_target *t,
				   int epfd)
{
	enum xlb_probe_result r = xlb_probe_start(p, t, now(), epfd, 7);
	struct epoll_event ev[8];

	while (r == XLB_PROBE_PENDING) {
		int n = epoll_wait(epfd, ev, 8, 50);

		for (int i = 0; i < n && r == XLB_PROBE_PENDING; i++)
			if (ev[i].data.u32 == 7)
				r = xlb_probe_progress(p, t, epfd, 7);
		if (r == XLB_PROBE_PENDING)
			r = xlb_probe_expire(p, now(), epfd);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct xlb_config cfg;
	struct xlb_probe p;
	struct xlb_probe_target t;
	const struct xlb_service_conf *s;
	int count = argc > 5 ? atoi(argv[5]) : 1, epfd, rc = 0;

	if (argc < 5 || load(argv, &cfg)) {
		fprintf(stderr, "usage: probe-check tcp|udp ADDR PORT HEALTH_JSON [COUNT]\n");
		return 2;
	}
	s = &cfg.services[0];
	t = (struct xlb_probe_target){ .addr = s->vip, .family = s->family, .port = s->health.port ?:
		s->port, .type = s->health.type, .path = s->health.path,
		.timeout_ms = s->health.timeout_ms, .health = &s->health, .via = XLB_VIA_DIRECT,
		.backend = s->vip };
	epfd = epoll_create1(EPOLL_CLOEXEC);
	xlb_probe_init(&p);
	for (int i = 0; i < count; i++) {
		enum xlb_probe_result r = check(&p, &t, epfd);

		if (r == XLB_PROBE_OK)
			printf("ok\n");
		else if (r == XLB_PROBE_FAILED)
			printf("failed %s: %s\n", xlb_probe_class_names[p.cls], p.why);
		else
			printf("unchecked: %s\n", p.why);
		if (r != XLB_PROBE_OK && rc < (r == XLB_PROBE_FAILED ? 1 : 2))
			rc = r == XLB_PROBE_FAILED ? 1 : 2;
	}
	xlb_probe_stop(&p, epfd);
	xlb_config_free(&cfg);
	close(epfd);
	return rc;
}
