/*
 * Reading a fleet node's metrics (http://HOST:PORT[/path] or a file the
 * daemon writes): its configuration fingerprint, generation, live table
 * fingerprints and announcement.  Used by xlb fleet check and by the daemon
 * before a node joins (--fleet-peer).  One deadline covers the whole read of
 * a URL: resolving its name, connecting, sending and receiving; a peer that
 * trickles its answer is cut off there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include "fleet.h"

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

/* Milliseconds left before end (0 when it has passed). */
static int left(long long end)
{
	long long now = mono_ms();

	return now >= end ? 0 : (int)(end - now);
}

/* A name lookup that can be given up: its memory stays with the resolver until it ends. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256], port[16];
};

/*
 * HOST:PORT's first address: a numeric address at once, a name through the
 * resolver within the deadline (getaddrinfo_a; given up when it passes).
 */
static struct addrinfo *resolve(const char *host, const char *port, long long end,
				int timeout_ms, char *error, size_t elen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai = NULL;
	struct gaicb *list[1];
	struct lookup *l;
	int rc = getaddrinfo(host, port, &hints, &ai);

	if (rc != EAI_NONAME) {
		if (rc)
			snprintf(error, elen, "%s port %s: %s", host, port, gai_strerror(rc));
		return rc ? NULL : ai;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		snprintf(error, elen, "out of memory");
		return NULL;
	}
	snprintf(l->host, sizeof(l->host), "%s", host);
	snprintf(l->port, sizeof(l->port), "%s", port);
	l->hints.ai_socktype = SOCK_STREAM;
	l->cb = (struct gaicb){ .ar_name = l->host, .ar_service = l->port, .ar_request = &l->hints };
	list[0] = &l->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) {
		snprintf(error, elen, "%s: cannot start the name lookup", host);
		free(l);
		return NULL;
	}
	while ((rc = gai_error(&l->cb)) == EAI_INPROGRESS && left(end)) {
		struct timespec ts = { left(end) / 1000, (left(end) % 1000) * 1000000L };

		gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	if (rc == EAI_INPROGRESS) {
		snprintf(error, elen, "timed out after %d ms (resolving %s)", timeout_ms, host);
		if (gai_cancel(&l->cb) == EAI_CANCELED)
			free(l);
		/* else the resolver still writes to it: it is left to it */
		return NULL;
	}
	ai = l->cb.ar_result;
	if (rc)
		snprintf(error, elen, "%s: %s", host, gai_strerror(rc));
	free(l);
	return rc ? NULL : ai;
}

/* Read what fd sends until it closes (before end): malloc'd text. */
static char *read_all(int fd, long long end, int timeout_ms, char *error, size_t elen)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);

	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, left(end)) <= 0) {
			snprintf(error, elen, "timed out after %d ms (%zu bytes of the answer read)",
				 timeout_ms, len);
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
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
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

/* HOST, PORT and path of http://HOST[:PORT][/path]; false when HOST is malformed. */
static bool split_url(const char *url, char *host, size_t hlen, char *port, size_t plen,
		      char *path, size_t pathlen)
{
	const char *p = url + 7, *end = p + strcspn(p, "/");

	snprintf(port, plen, "80");
	snprintf(path, pathlen, "%s", *end ? end : "/metrics");
	snprintf(host, hlen, "%.*s", (int)(end - p), p);
	if (host[0] == '[') {		/* [IPv6]:port */
		char *close = strchr(host, ']');

		if (!close)
			return false;
		if (close[1] == ':')
			snprintf(port, plen, "%s", close + 2);
		*close = '\0';
		memmove(host, host + 1, strlen(host));
	} else if (strchr(host, ':')) {
		snprintf(port, plen, "%s", strchr(host, ':') + 1);
		*strchr(host, ':') = '\0';
	}
	return host[0] != '\0';
}

/* Connected to ai before end: the socket, or -1 with error set. */
static int connect_by(const struct addrinfo *ai, long long end, int timeout_ms, char *error,
		      size_t elen)
{
	struct pollfd pw = { .events = POLLOUT };
	int soerr = 0, rc;
	socklen_t sl = sizeof(soerr);

	pw.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (pw.fd < 0 || (connect(pw.fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)) {
		snprintf(error, elen, "cannot connect: %s", strerror(errno));
		goto fail;
	}
	rc = poll(&pw, 1, left(end));
	if (rc <= 0) {
		snprintf(error, elen, "timed out after %d ms (connecting)", timeout_ms);
		goto fail;
	}
	if (getsockopt(pw.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
		snprintf(error, elen, "cannot connect: %s", strerror(soerr ? soerr : errno));
		goto fail;
	}
	return pw.fd;
fail:
	if (pw.fd >= 0)
		close(pw.fd);
	return -1;
}

/* GET the metrics of http://HOST:PORT[/path] within timeout_ms: the body, or NULL with error set. */
static char *fetch_http(const char *url, int timeout_ms, char *error, size_t elen)
{
	char host[256], port[16], path[256], req[640], *body, *text;
	long long end = mono_ms() + timeout_ms;
	struct addrinfo *ai;
	int fd;

	if (!split_url(url, host, sizeof(host), port, sizeof(port), path, sizeof(path))) {
		snprintf(error, elen, "bad address in %s", url);
		return NULL;
	}
	ai = resolve(host, port, end, timeout_ms, error, elen);
	if (!ai)
		return NULL;
	fd = connect_by(ai, end, timeout_ms, error, elen);
	freeaddrinfo(ai);
	if (fd < 0)
		return NULL;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(error, elen, "cannot send the request: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	text = read_all(fd, end, timeout_ms, error, elen);
	close(fd);
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
