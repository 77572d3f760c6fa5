/*
 * HTTP and HTTPS probes on libcurl's multi interface: one multi handle for
 * every probe (its CA store cached: a CA file is read once, not per check),
 * driven by the daemon's epoll loop (each transfer's sockets under its
 * probe's tag, the timer on the loop's tick): never a blocking call.  The URL names the
 * health host (or the target address), CURLOPT_CONNECT_TO sends it to the
 * target, so SNI and verification use the host; a fresh connection per
 * check, TLS sessions reused per backend (see XLB_TLS_RESUMES).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "netutil.h"
#include "probe.h"

#define BODY_MAX	(64 * 1024)

/*
 * TLS sessions are kept per probe (per backend), never across backends:
 * curl keys a session by the URL's host and the connect-to address, which
 * every backend of a tunnelled service shares (its VIP), and a session
 * resumed from another backend would skip this one's certificate.  A full
 * handshake at least every XLB_TLS_RESUMES checks sees a certificate that
 * expired since.
 */
#define XLB_TLS_RESUMES	16
static CURLM *multi;	/* every probe's transfer */
static __u64 timer_ms;	/* the multi handle's next timeout (0: none, 1: at once) */

static __u64 mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct xlb_probe *p = NULL;
	__u32 ev = what == CURL_POLL_IN ? EPOLLIN : what == CURL_POLL_OUT ? EPOLLOUT :
		   what == CURL_POLL_INOUT ? EPOLLIN | EPOLLOUT : 0;

	(void)userp;
	(void)socketp;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&p);
	if (p)
		xlb_probe_watch_fd(p, s, what == CURL_POLL_REMOVE ? 0 : ev);
	return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	(void)userp;
	timer_ms = timeout_ms < 0 ? 0 : timeout_ms == 0 ? 1 : mono_ms() + timeout_ms;
	return 0;
}

static int on_close(void *clientp, curl_socket_t fd)
{
	(void)clientp;
	return xlb_probe_close(fd);
}

static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	struct xlb_probe *p = clientp;
	int err;

	(void)purpose;
	err = xlb_probe_prepare_fd(fd, &p->tgt);
	if (err) {
		xlb_probe_unchecked(p, "socket: %s", strerror(-err));
		return CURL_SOCKOPT_ERROR;
	}
	return CURL_SOCKOPT_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct xlb_probe *p = userp;
	size_t len = size * n, room = BODY_MAX - p->len;

	if (!p->body && !(p->body = malloc(BODY_MAX + 1)))
		return 0;
	if (len < room)
		room = len;
	memcpy(p->body + p->len, data, room);
	p->len += room;
	p->body[p->len] = '\0';
	return len;	/* the rest is read, not kept */
}

/* "https://HOST:PORT/path" and the CONNECT_TO that sends it to the target. */
static void urls(const struct xlb_probe_target *t, char *url, size_t ulen, char *to, size_t tlen)
{
	char a[INET6_ADDRSTRLEN], host[XLB_HEALTH_TEXT_MAX + 2];
	bool v6 = t->family == XLB_FAMILY_V6;

	xlb_addr_str(&t->addr, t->family, a, sizeof(a));
	if (t->health->host[0])
		snprintf(host, sizeof(host), "%s", t->health->host);
	else
		snprintf(host, sizeof(host), v6 ? "[%s]" : "%s", a);
	snprintf(url, ulen, "%s://%s:%u%s", t->type == XLB_HEALTH_HTTPS ? "https" : "http", host,
		 t->port, t->health->path[0] ? t->health->path : "/");
	snprintf(to, tlen, v6 ? "::[%s]:%u" : "::%s:%u", a, t->port);
}

static void set_tls(CURL *e, const struct xlb_health *h)
{
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h->verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h->verify ? 2L : 0L);
	if (h->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 1L);
}

static CURL *easy_of(struct xlb_probe *p, const struct xlb_probe_target *t,
		     struct curl_slist **to)
{
	char url[600], conn[80];
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	urls(t, url, sizeof(url), conn, sizeof(conn));
	*to = curl_slist_append(NULL, conn);
	if (!*to) {	/* without CONNECT_TO curl would go to the host itself */
		curl_easy_cleanup(e);
		return NULL;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, *to);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "xlb-health");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROXY, "");	/* never a proxy from the environment */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, p);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
	curl_easy_setopt(e, CURLOPT_PRIVATE, p);
	p->liberr[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->liberr);
	if (t->type == XLB_HEALTH_HTTPS) {
		set_tls(e, t->health);
		if (p->share && ++p->share_uses > XLB_TLS_RESUMES)
			xlb_probe_curl_forget(p);	/* a full handshake this time */
		if (!p->share && (p->share = curl_share_init()))
			curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
		if (p->share)
			curl_easy_setopt(e, CURLOPT_SHARE, p->share);
	}
	return e;
}

static void init_once(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	if (!multi)
		return;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
}

enum xlb_probe_result xlb_probe_curl_start(struct xlb_probe *p, const struct xlb_probe_target *t,
					   __u64 now_ms)
{
	struct curl_slist *to = NULL;
	int running;

	(void)now_ms;
	init_once();
	if (t->type == XLB_HEALTH_HTTPS && t->health->ca_file[0] &&
	    access(t->health->ca_file, R_OK)) {
		xlb_probe_unchecked(p, "CA file %s: %s", t->health->ca_file, strerror(errno));
		return XLB_PROBE_UNCHECKED;
	}
	p->easy = multi ? easy_of(p, t, &to) : NULL;
	if (!p->easy) {
		curl_slist_free_all(to);
		xlb_probe_unchecked(p, "libcurl: out of memory");
		return XLB_PROBE_UNCHECKED;
	}
	p->multi = multi;
	p->conn_to = to;
	curl_multi_add_handle(multi, p->easy);
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	xlb_probe_curl_step(p, -2);	/* a verdict already (a refused connect)? */
	return XLB_PROBE_PENDING;
}

/* A failed TLS verification: which of the certificate's faults. */
static void tls_failed(struct xlb_probe *p, CURL *e, const char *err)
{
	long v = 0;

	curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &v);
	if (v == 10 || strstr(err, "expired"))		/* X509_V_ERR_CERT_HAS_EXPIRED */
		xlb_probe_end(p, XLB_PC_TLS, "TLS: certificate expired");
	else if (v == 9)				/* X509_V_ERR_CERT_NOT_YET_VALID */
		xlb_probe_end(p, XLB_PC_TLS, "TLS: certificate not yet valid");
	else if (v == 62 || strstr(err, "subject name") || strstr(err, "does not match"))
		xlb_probe_end(p, XLB_PC_TLS, "TLS: certificate names another host");
	else if (v == 18 || v == 19 || v == 20 || v == 21)
		xlb_probe_end(p, XLB_PC_TLS, "TLS: certificate not trusted");
	else
		xlb_probe_end(p, XLB_PC_TLS, "TLS: %.50s", err);
}

static void transfer_ok(struct xlb_probe *p, CURL *e)
{
	long status = 0;

	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (!xlb_health_status_ok(&p->hc, status))
		xlb_probe_end(p, XLB_PC_STATUS, "HTTP %ld", status);
	else if (p->hc.body_match[0] && (!p->body || !strstr(p->body, p->hc.body_match)))
		xlb_probe_end(p, XLB_PC_BODY, "body does not match");
	else
		xlb_probe_end(p, XLB_PC_NONE, "HTTP %ld", status);
}

static void finished(struct xlb_probe *p, CURL *e, CURLcode rc)
{
	const char *err = curl_easy_strerror(rc);
	long os = 0;

	curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &os);
	switch (rc) {
	case CURLE_OK:
		return transfer_ok(p, e);
	case CURLE_COULDNT_CONNECT:
		if (xlb_probe_local_error(os))	/* this host's ports or descriptors ran out */
			return xlb_probe_unchecked(p, "%s", strerror(os));
		if (os == ECONNREFUSED)
			return xlb_probe_end(p, XLB_PC_REFUSED, "connect refused");
		if (os == ETIMEDOUT)
			return xlb_probe_end(p, XLB_PC_TIMEOUT, "timeout");
		return xlb_probe_end(p, XLB_PC_ERROR, "%s", os ? strerror(os) : err);
	case CURLE_OPERATION_TIMEDOUT:
		return xlb_probe_end(p, XLB_PC_TIMEOUT, "timeout");
	case CURLE_PEER_FAILED_VERIFICATION:
		return tls_failed(p, e, p->liberr[0] ? p->liberr : err);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_SHUTDOWN_FAILED:
		return xlb_probe_end(p, XLB_PC_TLS, "TLS: handshake failed");
	case CURLE_SSL_CACERT_BADFILE:
		return xlb_probe_unchecked(p, "CA file %s: not a certificate", p->hc.ca_file);
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
	case CURLE_ABORTED_BY_CALLBACK:
		return xlb_probe_unchecked(p, "%s", err);
	default:
		return xlb_probe_end(p, XLB_PC_ERROR, "%s", err);
	}
}

/*
 * fd ready (>= 0), or the timer's tick (-1): the multi handle goes on; each
 * transfer that ended sets its own probe's verdict (p->done), which the
 * caller takes from that probe (now, or at its next tick).
 */
void xlb_probe_curl_step(struct xlb_probe *p, int fd)
{
	struct xlb_probe *q;
	CURLMsg *m;
	__u32 ev = 0;
	int running, left, mask = 0;

	if (!p->multi)
		return;
	if (fd >= 0) {
		xlb_probe_ready(fd, &ev);
		mask = (ev & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
		       (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0) | (ev & EPOLLERR ? CURL_CSELECT_ERR : 0);
		curl_multi_socket_action(multi, fd, mask, &running);
	} else if (fd == -1 && timer_ms && mono_ms() >= timer_ms) {
		timer_ms = 0;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	/* "at once" (timeout 0): now, not at the loop's next tick (a check's latency
	 * is added to its interval) */
	for (int i = 0; i < 4 && timer_ms == 1; i++) {
		timer_ms = 0;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	while ((m = curl_multi_info_read(multi, &left))) {
		q = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (m->msg == CURLMSG_DONE && q)
			finished(q, m->easy_handle, m->data.result);
	}
	p->timer_ms = timer_ms ? timer_ms : 0;
}

void xlb_probe_curl_stop(struct xlb_probe *p)
{
	if (p->easy) {
		curl_multi_remove_handle(multi, p->easy);
		curl_easy_cleanup(p->easy);
	}
	curl_slist_free_all(p->conn_to);
	p->conn_to = NULL;
	p->easy = p->multi = NULL;
}

void xlb_probe_curl_forget(struct xlb_probe *p)
{
	if (p->share)
		curl_share_cleanup(p->share);
	p->share = NULL;
	p->share_uses = 0;
}
