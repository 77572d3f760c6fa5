/*
 * Watched children: a job that waits on the outside world (birdc, the
 * fleet's peers) runs in a child process the loop never waits for.  It is
 * started, what it writes is collected without blocking on later turns of
 * the loop, and it is killed at its deadline; the daemon's lock is never
 * held meanwhile.
 */
#define _GNU_SOURCE
#include "state.h"

/* Start argv (stdout and stderr collected), or fn(arg, fd) in a forked child: 0 or -1. */
int child_start(struct dchild *c, char *const argv[], void (*fn)(void *arg, int fd), void *arg,
		__u32 timeout_ms)
{
	int pfd[2];
	sigset_t none;

	memset(c, 0, sizeof(*c));
	c->pid = c->fd = -1;
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	c->pid = fork();
	if (c->pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (c->pid == 0) {
		sigemptyset(&none);	/* the daemon blocks its signals for its signalfd */
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (argv) {
			int nul = open("/dev/null", O_RDONLY);

			dup2(nul, 0);
			dup2(pfd[1], 1);
			dup2(pfd[1], 2);
			close_range(3, ~0u, 0);	/* nothing of the daemon's: its lock, sockets */
			execvp(argv[0], argv);
			_exit(127);
		}
		dup2(pfd[1], 3);
		close_range(4, ~0u, 0);
		fn(arg, 3);
		_exit(0);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	c->fd = pfd[0];
	c->started_ms = now_ms();
	c->deadline_ms = c->started_ms + timeout_ms;
	return 0;
}

/* Read what the child wrote so far (beyond out's room it is dropped). */
static void child_drain(struct dchild *c)
{
	char scratch[512];

	for (;;) {
		size_t room = sizeof(c->out) - 1 - c->len;
		ssize_t n = room ? read(c->fd, c->out + c->len, room) :
				   read(c->fd, scratch, sizeof(scratch));

		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0 && room)
			c->len += n;
	}
	c->out[c->len] = '\0';
}

static void child_end(struct dchild *c)
{
	child_drain(c);
	close(c->fd);
	c->fd = -1;
	c->pid = -1;
}

/*
 * Without waiting: CHILD_RUNNING; CHILD_DONE (it ended, *status its wait
 * status, c->out what it wrote); CHILD_KILLED (its deadline passed: killed).
 */
int child_poll(struct dchild *c, int *status)
{
	if (c->pid <= 0)
		return CHILD_IDLE;
	child_drain(c);
	if (waitpid(c->pid, status, WNOHANG) == c->pid) {
		child_end(c);
		return CHILD_DONE;
	}
	if (now_ms() < c->deadline_ms)
		return CHILD_RUNNING;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, status, 0);
	child_end(c);
	return CHILD_KILLED;
}

/* Stopping: a child still running is killed. */
void child_stop(struct dchild *c)
{
	int status;

	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	child_end(c);
}
