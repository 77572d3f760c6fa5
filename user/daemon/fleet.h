/* A fleet node's metrics, as xlb fleet check and the daemon's join check read them. */
#ifndef XLB_FLEET_H
#define XLB_FLEET_H

#include <stdbool.h>

#define XLB_FLEET_MAX_TABLES	256
#define XLB_FLEET_MAX_BYTES	(8u << 20)
#define XLB_FLEET_TIMEOUT_MS	3000

struct xlb_fleet_node {
	const char *source;
	char error[256];		/* "" when read */
	char config[17];
	unsigned long long generation;
	int announced;			/* VIPs announced (xlb_announced_vips), -1: no --announce */
	struct { char service[64], fp[17]; } tables[XLB_FLEET_MAX_TABLES];
	unsigned int nr_tables;
};

/* Read n->source (http://HOST:PORT[/path] or a file); n->error says why not. */
void xlb_fleet_read(struct xlb_fleet_node *n, int timeout_ms);

/* What a node says of a service's table ("" when it has none). */
const char *xlb_fleet_table(const struct xlb_fleet_node *n, const char *service);

#endif
