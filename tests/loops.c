/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "loops.h"

static void *server_main(void *arg)
{
	struct tu_server_thread *t = arg;
	uvfio_server_run(t->srv);
	return NULL;
}

int tu_server_thread_start(struct tu_server_thread *t,
			   struct uvfio_server *srv)
{
	t->srv = srv;
	int r = pthread_create(&t->thread, NULL, server_main, t);
	return -r;
}

void tu_server_thread_stop(struct tu_server_thread *t)
{
	uvfio_server_stop(t->srv);
	pthread_join(t->thread, NULL);
}

/* Short poll timeouts: a request the client queued from another thread
 * without waking the loop is still sent within that time. */
static void *client_main(void *arg)
{
	struct tu_client_loop *l = arg;
	struct pollfd pf[2] = {
		{ .fd = uvfio_client_poll_fd(l->cli), .events = POLLIN },
		{ .fd = l->stop[0], .events = POLLIN },
	};
	while (!(pf[1].revents & POLLIN)) {
		if (poll(pf, 2, 20) < 0 && errno != EINTR)
			break;
		uvfio_client_process(l->cli);
	}
	return NULL;
}

int tu_client_loop_start(struct tu_client_loop *l, struct uvfio_client *cli)
{
	l->cli = cli;
	if (pipe(l->stop) < 0)
		return -errno;
	int r = pthread_create(&l->thread, NULL, client_main, l);
	if (r) {
		close(l->stop[0]);
		close(l->stop[1]);
	}
	return -r;
}

void tu_client_loop_stop(struct tu_client_loop *l)
{
	ssize_t n = write(l->stop[1], "x", 1);
	(void)n;
	pthread_join(l->thread, NULL);
	close(l->stop[0]);
	close(l->stop[1]);
}
