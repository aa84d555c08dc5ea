/* SPDX-License-Identifier: MIT */
/* uvfio/uvfio.h - everything: wire format, codec, server and client API. */
#ifndef UVFIO_UVFIO_H
#define UVFIO_UVFIO_H

#include <uvfio/common.h>
#include <uvfio/wire.h>
#include <uvfio/codec.h>
#include <uvfio/server.h>
#include <uvfio/client.h>

#endif
