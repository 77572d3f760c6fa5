/* Health probes on loopback: a check this host cannot make is no verdict on the backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "probe.h"

/* A TCP listener on 127.0.0.1: its port, fd in *fd. */
static __u16 listener(int *fd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (void *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(*fd, 16), 0);
	assert_int_equal(getsockname(*fd, (void *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

/* Start a probe and follow it to its verdict (bounded: a second at most). */
static enum xlb_probe_result check(struct xlb_probe *p, const struct xlb_probe_target *t, int epfd)
{
	enum xlb_probe_result r = xlb_probe_start(p, t, 0, epfd, 1);

	for (int i = 0; i < 100 && r == XLB_PROBE_PENDING; i++) {
		struct epoll_event ev;

		epoll_wait(epfd, &ev, 1, 10);
		r = xlb_probe_progress(p, t, epfd, 1);
	}
	return r;
}

static void out_of_descriptors_is_not_a_failure(void **state)
{
	struct xlb_probe_target t = { .family = XLB_FAMILY_V4, .type = XLB_HEALTH_TCP,
				      .timeout_ms = 1000 };
	struct rlimit saved, low;
	struct xlb_probe p;
	int lfd, epfd = epoll_create1(0), filler[64], n = 0;
	enum xlb_probe_result r;

	(void)state;
	t.addr.v4 = htonl(INADDR_LOOPBACK);
	t.port = listener(&lfd);
	/* with descriptors to spare the check is made and passes */
	xlb_probe_init(&p);
	assert_int_equal(check(&p, &t, epfd), XLB_PROBE_OK);
	/* every descriptor taken: no socket, so no verdict on the backend */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = lfd + 8;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (filler[n] = open("/dev/null", O_RDONLY)) >= 0)
		n++;
	assert_int_equal(errno, EMFILE);
	r = xlb_probe_start(&p, &t, 0, epfd, 1);
	assert_int_equal(r, XLB_PROBE_UNCHECKED);
	assert_string_equal(p.why, strerror(EMFILE));
	assert_int_equal(p.fd, -1);
	assert_int_equal(p.phase, XLB_PROBE_IDLE);
	while (n > 0)
		close(filler[--n]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	/* and a backend that refuses is a failure, as ever */
	close(lfd);
	assert_int_equal(check(&p, &t, epfd), XLB_PROBE_FAILED);
	close(epfd);
}

/*
 * Through the tunnel: the socket carries the check's mark and leaves from the
 * tunnel source (127.0.0.2 here), set before connect; a source this host does
 * not have is no verdict on the backend.
 */
static void tunnel_mark_and_source(void **state)
{
	struct xlb_probe_target t = { .family = XLB_FAMILY_V4, .type = XLB_HEALTH_TCP,
				      .timeout_ms = 1000, .via = XLB_VIA_TUNNEL,
				      .mark = 0x584c0007, .bind_src = true };
	struct sockaddr_in peer, local;
	socklen_t len = sizeof(peer);
	int lfd, afd, epfd = epoll_create1(0);
	struct xlb_probe p;
	__u32 mark = 0;

	(void)state;
	if (geteuid())
		skip();		/* SO_MARK needs CAP_NET_ADMIN */
	t.addr.v4 = htonl(INADDR_LOOPBACK);
	t.src.v4 = inet_addr("127.0.0.2");
	t.port = listener(&lfd);
	xlb_probe_init(&p);
	assert_int_equal(xlb_probe_start(&p, &t, 0, epfd, 1), XLB_PROBE_PENDING);
	assert_int_equal(getsockopt(p.fd, SOL_SOCKET, SO_MARK, &mark, &len), 0);
	assert_int_equal(mark, 0x584c0007);
	len = sizeof(local);
	assert_int_equal(getsockname(p.fd, (void *)&local, &len), 0);
	assert_int_equal(local.sin_addr.s_addr, inet_addr("127.0.0.2"));
	len = sizeof(peer);
	afd = accept(lfd, (void *)&peer, &len);
	assert_true(afd >= 0);
	assert_int_equal(peer.sin_addr.s_addr, inet_addr("127.0.0.2"));
	close(afd);
	xlb_probe_stop(&p, epfd);
	/* the control: without bind_src the kernel picks 127.0.0.1 */
	t.bind_src = false;
	assert_int_equal(check(&p, &t, epfd), XLB_PROBE_OK);
	afd = accept(lfd, (void *)&peer, &len);
	assert_int_equal(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	close(afd);
	/* a tunnel source this host does not have: unchecked, not failed */
	t.bind_src = true;
	t.src.v4 = inet_addr("192.0.2.77");
	assert_int_equal(xlb_probe_start(&p, &t, 0, epfd, 1), XLB_PROBE_UNCHECKED);
	assert_string_equal(p.why, strerror(EADDRNOTAVAIL));
	assert_int_equal(p.fd, -1);
	close(lfd);
	close(epfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(out_of_descriptors_is_not_a_failure),
		cmocka_unit_test(tunnel_mark_and_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
