/*
 * udp-echo: the lab backends' UDP service.  Answers every datagram with
 * "NAME PAYLOAD" from the address it was sent to (bound per address, so a
 * reply to a VIP leaves from the VIP: direct server return).  Daemonises.
 *
 *   udp-echo --name b1 --port 53 --pidfile FILE ADDR...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ADDRS 8

static int bind_addr(const char *a, int port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, v6 = strchr(a, ':') != NULL;

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (v6 ? inet_pton(AF_INET6, a, &s6.sin6_addr) != 1 : inet_pton(AF_INET, a, &s4.sin_addr) != 1) {
		fprintf(stderr, "udp-echo: bad address %s\n", a);
		close(fd);
		return -1;
	}
	if (v6 ? bind(fd, (void *)&s6, sizeof(s6)) : bind(fd, (void *)&s4, sizeof(s4))) {
		fprintf(stderr, "udp-echo: bind %s:%d: %s\n", a, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *name = "udp-echo", *pidfile = NULL;
	struct pollfd fds[MAX_ADDRS];
	int port = 53, n = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--name") && i + 1 < argc)
			name = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (n < MAX_ADDRS) {
			fds[n].fd = bind_addr(argv[i], port);
			fds[n].events = POLLIN;
			if (fds[n++].fd < 0)
				return 1;
		}
	}
	if (!n || port <= 0 || port > 65535) {
		fprintf(stderr, "usage: udp-echo --name NAME --port PORT [--pidfile F] ADDR...\n");
		return 1;
	}
	if (daemon(0, 0))
		return 1;
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (f) {
			fprintf(f, "%d\n", getpid());
			fclose(f);
		}
	}
	for (;;) {
		if (poll(fds, n, -1) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			struct sockaddr_storage peer;
			socklen_t plen = sizeof(peer);
			char in[1400], out[1500];
			ssize_t got;
			int len;

			if (!(fds[i].revents & POLLIN))
				continue;
			got = recvfrom(fds[i].fd, in, sizeof(in) - 1, 0, (void *)&peer, &plen);
			if (got < 0)
				continue;
			in[got] = '\0';
			len = snprintf(out, sizeof(out), "%s %s", name, in);
			sendto(fds[i].fd, out, len, 0, (void *)&peer, plen);
		}
	}
}
