/*
 * Reading a fleet node's metrics (http://HOST:PORT[/path] or a file the
 * daemon writes): its configuration fingerprint, generation, live table
 * fingerprints and announcement.  Used by xlb fleet check and by the daemon
 * before a node joins (--fleet-peer).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "fleet.h"



/* Read what fd sends until it closes (within the deadline): malloc'd text. */
static char *read_all(int fd, int timeout_ms, char *error, size_t elen)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);

	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0) {
			snprintf(error, elen, "no answer within %d ms", timeout_ms);
			break;
		}
		if (len == cap) {
			char *more = cap < XLB_FLEET_MAX_BYTES ? realloc(buf, 2 * cap + 1) : NULL;

			if (!more) {
				snprintf(error, elen, "more than %u bytes", XLB_FLEET_MAX_BYTES);
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
static char *fetch_http(const char *url, int timeout_ms, char *error, size_t elen)
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

		if (poll(&pw, 1, timeout_ms) <= 0 ||
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
	text = read_all(fd, timeout_ms, error, elen);
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
	buf = malloc(XLB_FLEET_MAX_BYTES + 1);
	n = buf ? fread(buf, 1, XLB_FLEET_MAX_BYTES, f) : 0;
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

static void parse(struct xlb_fleet_node *n, char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "xlb_config_info{", 16)) {
			label(line, "fingerprint", n->config, sizeof(n->config));
		} else if (!strncmp(line, "xlb_announced_vips ", 19)) {
			n->announced = atoi(line + 19);
		} else if (!strncmp(line, "xlb_config_generation ", 22)) {
			n->generation = strtoull(line + 22, NULL, 10);
		} else if (!strncmp(line, "xlb_table_info{", 15) && n->nr_tables < XLB_FLEET_MAX_TABLES) {
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


void xlb_fleet_read(struct xlb_fleet_node *n, int timeout_ms)
{
	const char *src = n->source;
	char *text;

	n->error[0] = n->config[0] = '\0';
	n->generation = 0;
	n->announced = -1;
	n->nr_tables = 0;
	text = !strncmp(src, "http://", 7) ? fetch_http(src, timeout_ms, n->error, sizeof(n->error)) :
	       fetch_file(src, n->error, sizeof(n->error));
	if (text)
		parse(n, text);
	free(text);
}

const char *xlb_fleet_table(const struct xlb_fleet_node *n, const char *service)
{
	for (unsigned int i = 0; i < n->nr_tables; i++)
		if (!strcmp(n->tables[i].service, service))
			return n->tables[i].fp;
	return "";
}
