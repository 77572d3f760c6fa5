/*
 * xlb fleet check SOURCE...: do the nodes of a fleet agree?  Each SOURCE is a
 * node's metrics (http://HOST:PORT[/metrics], or a file the daemon writes
 * with --metrics-file).  Nodes agree when their configurations have the same
 * fingerprint and every service's live table sends every flow to the same
 * backend address (xlb_table_info); the ones that differ from the most
 * common answer are named.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "cmd.h"
#include "log.h"

#define FLEET_MAX_NODES		64
#define FLEET_MAX_TABLES	256
#define FLEET_MAX_BYTES		(8u << 20)
#define FLEET_TIMEOUT_MS	3000

struct node {
	const char *source;
	char error[256];		/* "" when read */
	char config[17];
	unsigned long long generation;
	struct { char service[64], fp[17]; } tables[FLEET_MAX_TABLES];
	unsigned int nr_tables;
};

/* Read what fd sends until it closes (within the deadline): malloc'd text. */
static char *read_all(int fd, char *error, size_t elen)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);

	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, FLEET_TIMEOUT_MS) <= 0) {
			snprintf(error, elen, "no answer within %d ms", FLEET_TIMEOUT_MS);
			break;
		}
		if (len == cap) {
			char *more = cap < FLEET_MAX_BYTES ? realloc(buf, 2 * cap + 1) : NULL;

			if (!more) {
				snprintf(error, elen, "more than %u bytes", FLEET_MAX_BYTES);
				break;
			}
			buf = more;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			snprintf(error, elen, "%s", strerror(errno));
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += n;
	}
	free(buf);
	return NULL;
}

/* GET the metrics of http://HOST:PORT[/path]: the body, or NULL with error set. */
static char *fetch_http(const char *url, char *error, size_t elen)
{
	char host[256], port[16] = "80", path[256] = "/metrics", req[640], *body, *text;
	const char *p = url + 7, *end = p + strcspn(p, "/");
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1, rc;

	if (*end)
		snprintf(path, sizeof(path), "%s", end);
	snprintf(host, sizeof(host), "%.*s", (int)(end - p), p);
	if (host[0] == '[') {		/* [IPv6]:port */
		char *close = strchr(host, ']');

		if (!close) {
			snprintf(error, elen, "bad address in %s", url);
			return NULL;
		}
		if (close[1] == ':')
			snprintf(port, sizeof(port), "%s", close + 2);
		*close = '\0';
		memmove(host, host + 1, strlen(host));
	} else if (strchr(host, ':')) {
		snprintf(port, sizeof(port), "%s", strchr(host, ':') + 1);
		*strchr(host, ':') = '\0';
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(error, elen, "%s: %s", host, gai_strerror(rc));
		return NULL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)) {
		snprintf(error, elen, "cannot connect: %s", strerror(errno));
		goto fail;
	}
	{
		struct pollfd pw = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (poll(&pw, 1, FLEET_TIMEOUT_MS) <= 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
			snprintf(error, elen, "cannot connect: %s",
				 soerr ? strerror(soerr) : "timed out");
			goto fail;
		}
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(error, elen, "cannot send the request: %s", strerror(errno));
		goto fail;
	}
	text = read_all(fd, error, elen);
	close(fd);
	freeaddrinfo(ai);
	if (!text)
		return NULL;
	if (strncmp(text, "HTTP/1.", 7) || strncmp(text + 8, " 200", 4)) {
		snprintf(error, elen, "answered %.40s", strtok(text, "\r\n"));
		free(text);
		return NULL;
	}
	body = strstr(text, "\r\n\r\n");
	body = body ? strdup(body + 4) : NULL;
	free(text);
	if (!body)
		snprintf(error, elen, "no body in the answer");
	return body;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return NULL;
}

static char *fetch_file(const char *path, char *error, size_t elen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		snprintf(error, elen, "%s", strerror(errno));
		return NULL;
	}
	buf = malloc(FLEET_MAX_BYTES + 1);
	n = buf ? fread(buf, 1, FLEET_MAX_BYTES, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* The value of label `name` in a metrics line's label set. */
static bool label(const char *line, const char *name, char *out, size_t len)
{
	char key[80];
	const char *p;

	snprintf(key, sizeof(key), "%s=\"", name);
	p = strstr(line, key);
	if (!p)
		return false;
	p += strlen(key);
	snprintf(out, len, "%.*s", (int)strcspn(p, "\""), p);
	return true;
}

static void parse(struct node *n, char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "xlb_config_info{", 16)) {
			label(line, "fingerprint", n->config, sizeof(n->config));
		} else if (!strncmp(line, "xlb_config_generation ", 22)) {
			n->generation = strtoull(line + 22, NULL, 10);
		} else if (!strncmp(line, "xlb_table_info{", 15) && n->nr_tables < FLEET_MAX_TABLES) {
			label(line, "service", n->tables[n->nr_tables].service,
			      sizeof(n->tables[0].service));
			label(line, "fingerprint", n->tables[n->nr_tables].fp,
			      sizeof(n->tables[0].fp));
			n->nr_tables++;
		}
	}
	if (!n->config[0])
		snprintf(n->error, sizeof(n->error), "no xlb_config_info: not an xlb daemon's "
			 "metrics");
}

/* What a node says of a service's table ("" when it has none). */
static const char *table_of(const struct node *n, const char *service)
{
	for (unsigned int i = 0; i < n->nr_tables; i++)
		if (!strcmp(n->tables[i].service, service))
			return n->tables[i].fp;
	return "";
}

/* The most common value of what(node) among the readable nodes. */
static const char *majority(const struct node *nodes, int nr, const char *(*what)(
			    const struct node *, const char *), const char *arg)
{
	const char *best = "";
	int best_n = 0;

	for (int i = 0; i < nr; i++) {
		int c = 0;

		if (nodes[i].error[0])
			continue;
		for (int k = 0; k < nr; k++)
			c += !nodes[k].error[0] && !strcmp(what(&nodes[i], arg), what(&nodes[k], arg));
		if (c > best_n) {
			best_n = c;
			best = what(&nodes[i], arg);
		}
	}
	return best;
}

static const char *config_of(const struct node *n, const char *unused)
{
	(void)unused;
	return n->config;
}

static int do_fleet_check(int argc, char **argv)
{
	struct node *nodes;
	json_t *arr = json_array();
	int unreadable = 0, differ = 0;
	const char *want;

	if (argc < 2 || argc > FLEET_MAX_NODES)
		return usage_error("fleet check: takes 2 to %d SOURCEs (http://HOST:PORT or a "
				   "metrics file)", FLEET_MAX_NODES);
	nodes = calloc(argc, sizeof(*nodes));
	if (!nodes)
		return XLB_EXIT_SYSTEM;
	for (int i = 0; i < argc; i++) {
		char *text;

		nodes[i].source = argv[i];
		text = !strncmp(argv[i], "http://", 7) ?
		       fetch_http(argv[i], nodes[i].error, sizeof(nodes[i].error)) :
		       fetch_file(argv[i], nodes[i].error, sizeof(nodes[i].error));
		if (text)
			parse(&nodes[i], text);
		free(text);
		unreadable += nodes[i].error[0] != '\0';
	}
	want = majority(nodes, argc, config_of, NULL);
	for (int i = 0; i < argc; i++) {
		struct node *n = &nodes[i];
		json_t *o = json_pack("{s:s}", "source", n->source), *bad = json_array();

		if (n->error[0]) {
			json_object_set_new(o, "error", json_string(n->error));
			if (!xlb_json)
				printf("%s: UNREADABLE: %s\n", n->source, n->error);
			json_array_append_new(arr, o);
			json_decref(bad);
			continue;
		}
		if (strcmp(n->config, want))
			json_array_append_new(bad, json_string("configuration"));
		for (unsigned int t = 0; t < n->nr_tables; t++) {
			const char *svc = n->tables[t].service;

			if (strcmp(n->tables[t].fp, majority(nodes, argc, table_of, svc)))
				json_array_append_new(bad, json_pack("s+", "table ", svc));
		}
		differ += json_array_size(bad) > 0;
		json_object_set_new(o, "config_fingerprint", json_string(n->config));
		json_object_set_new(o, "generation", json_integer(n->generation));
		json_object_set_new(o, "agrees", json_boolean(!json_array_size(bad)));
		json_object_set_new(o, "differs_in", bad);
		if (!xlb_json) {
			printf("%s: configuration %s (generation %llu), %u tables: %s", n->source,
			       n->config, n->generation, n->nr_tables,
			       json_array_size(bad) ? "DIFFERS in" : "agrees");
			for (size_t k = 0; k < json_array_size(bad); k++)
				printf("%s %s", k ? "," : "", json_string_value(json_array_get(bad, k)));
			printf("\n");
		}
		json_array_append_new(arr, o);
	}
	if (xlb_json)
		json_emit(json_pack("{s:b,s:o}", "agree", !differ && !unreadable, "nodes", arr));
	else
		json_decref(arr);
	if (!xlb_json)
		printf("%s\n", unreadable ? "some nodes could not be read" :
		       differ ? "the nodes DO NOT agree: a flow may reach another backend through "
				"the nodes named" : "the nodes agree: every flow reaches the same "
				"backend through any of them");
	free(nodes);
	return unreadable ? XLB_EXIT_SYSTEM : differ ? XLB_EXIT_REFUSED : 0;
}

int do_fleet(int argc, char **argv)
{
	static const struct cmd verbs[] = {
		{ "check", do_fleet_check },
		{ NULL, NULL },
	};

	return cmd_dispatch(verbs, argc, argv, "fleet verb");
}
