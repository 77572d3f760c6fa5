/*
 * Reading a fleet node's metrics (http://HOST:PORT[/path] or a file the
 * daemon writes): its configuration fingerprint, generation, live table
 * fingerprints and announcement.  Used by xlb fleet check and by the daemon
 * before a node joins (--fleet-peer), on libcurl.  One deadline covers the
 * whole read of a URL: resolving its name, connecting, sending and receiving;
 * a peer that trickles its answer is cut off there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "fleet.h"

struct body {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct body *b = ctx;
	size_t n = size * nmemb;
	char *more;

	if (b->len + n > XLB_FLEET_MAX_BYTES) {
		b->too_big = true;
		return 0;		/* curl stops: CURLE_WRITE_ERROR */
	}
	more = realloc(b->buf, b->len + n + 1);
	if (!more)
		return 0;
	b->buf = more;
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/*
 * GET the metrics of http://HOST:PORT[/path] (path /metrics when none) within
 * timeout_ms, libcurl's one overall deadline covering the name lookup (its
 * threaded resolver), connecting, sending and receiving: the body, or NULL
 * with error set.
 */
static char *fetch_http(const char *url, int timeout_ms, char *error, size_t elen)
{
	char full[600], cerr[CURL_ERROR_SIZE] = "";
	const char *host = url + 7;
	struct body b = { 0 };
	long status = 0, oserr = 0;
	CURLcode rc;
	CURL *c;

	snprintf(full, sizeof(full), "%s%s", url, strchr(host, '/') ? "" : "/metrics");
	c = curl_easy_init();
	if (!c) {
		snprintf(error, elen, "cannot start an HTTP client");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
	curl_easy_cleanup(c);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(error, elen, "timed out after %d ms (%zu bytes of the answer read)",
			 timeout_ms, b.len);
	else if (b.too_big)
		snprintf(error, elen, "more than %u bytes", XLB_FLEET_MAX_BYTES);
	else if (rc == CURLE_COULDNT_CONNECT && oserr)
		snprintf(error, elen, "cannot connect: %s", strerror(oserr));
	else if (rc)
		snprintf(error, elen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
	else if (status != 200)
		snprintf(error, elen, "answered HTTP %ld", status);
	else if (!b.buf)
		snprintf(error, elen, "no body in the answer");
	else
		return b.buf;
	free(b.buf);
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
