/* SPDX-License-Identifier: MIT */
/*
 * In-process tests: a server on its built-in loop in a thread of its own,
 * and a client driven by a loop thread as a VMM's main loop drives it
 * (poll fd + uvfio_client_process), written once for every test that
 * needs the pair.
 */
#ifndef UVFIO_TESTS_LOOPS_H
#define UVFIO_TESTS_LOOPS_H

#include <pthread.h>

#include <uvfio/uvfio.h>

struct tu_server_thread {
	struct uvfio_server *srv;
	pthread_t thread;
};

struct tu_client_loop {
	struct uvfio_client *cli;
	pthread_t thread;
	int stop[2]; /* a pipe: the loop ends when it becomes readable */
};

/* 0, or -errno (nothing started). */
int tu_server_thread_start(struct tu_server_thread *t,
			   struct uvfio_server *srv);
/* uvfio_server_stop() and join; the server is the caller's to destroy. */
void tu_server_thread_stop(struct tu_server_thread *t);

int tu_client_loop_start(struct tu_client_loop *l, struct uvfio_client *cli);
/* End the loop and join it; the client is the caller's to destroy (after
 * this: the loop uses the handle). */
void tu_client_loop_stop(struct tu_client_loop *l);

#endif
