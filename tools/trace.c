/* SPDX-License-Identifier: MIT */
/*
 * uvfio-trace --listen PATH --connect PATH [--json] [--hex] [--cut-malformed]
 *             [-o FILE]
 *
 * A vfio-user proxy: one client at a time on --listen, relayed to the
 * server at --connect, every message and every fd forwarded unchanged in
 * both directions, and one decoded line printed per message.
 *
 * The one thing it changes is the twin socket: the client's offer is taken
 * out of its VERSION JSON, so the server never creates one and its DMA
 * commands come over the main socket, where they are traced.  A twin
 * created behind the proxy's back would carry traffic nobody sees.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <uvfio/codec.h>

#include "transport/sock.h"
#include "transport/transport.h"

#include "app.h"

#define TRACE_MAX_MSG (16u << 20)
#define TRACE_MAX_FDS 64u
#define PENDING_MAX 4096u  /* outstanding commands tracked per direction */
#define HEX_BYTES 32u      /* data bytes shown by --hex */
#define SPARSE_SHOWN 8u    /* sparse areas named in a text line */
#define CONNECT_TRIES 100  /* server backlog full: retry for 5 s */
#define CONNECT_WAIT_MS 50

enum dir { C2S = 0, S2C = 1 };
static const char *const dir_name[] = { "C>S", "S>C" };

struct opts {
	const char *listen, *connect, *output;
	bool json, hex, cut;
};

/* A command waiting for its reply, with what the reply must echo. */
struct pending {
	struct uvfio_expect exp;
	uint64_t t_ns;
	uint32_t feature, feature_op; /* DEVICE_FEATURE: decode the reply */
	bool bad;                     /* command was malformed */
	bool active;
};

/* Commands sent in one direction, oldest first. */
struct ptable {
	struct pending *ring;
	unsigned head, len;
};

struct side {
	struct tp tp;
	enum dir from; /* direction of what is read from this side */
};

struct session {
	const struct opts *o;
	FILE *out;
	bool active;
	struct side cl, sv;
	struct ptable pend[2]; /* by the direction of the command */
	struct uvfio_caps ccaps, scaps; /* client's (as the server saw it) */
	bool qemu_layout;
	const char *cut_why; /* set when --cut-malformed ends the session */
};

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- one output line, text or JSON ------------------------------------- */

struct line {
	bool json;
	char *buf;
	size_t len, cap;
	json_object *obj, *fields;
};

__attribute__((format(printf, 2, 3)))
static void tprintf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = l->cap - l->len;
		va_start(ap, fmt);
		int n = vsnprintf(l->buf ? l->buf + l->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			l->len += (size_t)n;
			return;
		}
		size_t cap = l->cap ? l->cap : 256;
		while (cap - l->len <= (size_t)n)
			cap *= 2;
		char *b = realloc(l->buf, cap);
		if (!b)
			return; /* the line comes out short, not wrong */
		l->buf = b;
		l->cap = cap;
	}
}

static void lf_str(struct line *l, const char *k, const char *v)
{
	if (l->json)
		json_object_object_add(l->fields, k, json_object_new_string(v));
	else
		tprintf(l, " %s=%s", k, v);
}

static void lf_u(struct line *l, const char *k, uint64_t v)
{
	if (l->json)
		json_object_object_add(l->fields, k, json_object_new_uint64(v));
	else
		tprintf(l, " %s=%llu", k, (unsigned long long)v);
}

/* Addresses and offsets read best in hex; JSON keeps them numbers. */
static void lf_x(struct line *l, const char *k, uint64_t v)
{
	if (l->json)
		json_object_object_add(l->fields, k, json_object_new_uint64(v));
	else
		tprintf(l, " %s=0x%llx", k, (unsigned long long)v);
}

static void lf_bool(struct line *l, const char *k, bool v)
{
	if (l->json)
		json_object_object_add(l->fields, k, json_object_new_boolean(v));
	else
		tprintf(l, " %s=%s", k, v ? "yes" : "no");
}

/* [addr, addr + size): text as an inclusive range, JSON as two numbers. */
static void lf_range(struct line *l, const char *k, uint64_t addr,
		     uint64_t size)
{
	if (l->json) {
		char ks[64];
		json_object_object_add(l->fields, k, json_object_new_uint64(addr));
		snprintf(ks, sizeof(ks), "%s_size", k);
		json_object_object_add(l->fields, ks, json_object_new_uint64(size));
	} else if (size) {
		tprintf(l, " %s=0x%llx-0x%llx size=0x%llx", k,
			(unsigned long long)addr,
			(unsigned long long)(addr + size - 1),
			(unsigned long long)size);
	} else {
		tprintf(l, " %s=0x%llx size=0", k, (unsigned long long)addr);
	}
}

static void lf_hex(struct line *l, const char *k, const uint8_t *p,
		   uint64_t n)
{
	char s[HEX_BYTES * 2 + 4];
	unsigned shown = n < HEX_BYTES ? (unsigned)n : HEX_BYTES;
	for (unsigned i = 0; i < shown; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	strcpy(s + 2 * shown, n > shown ? "..." : "");
	lf_str(l, k, s);
}

struct bitname {
	uint32_t bit;
	const char *name;
};

static void lf_bits(struct line *l, const char *k, uint64_t v,
		    const struct bitname *t)
{
	char s[160] = "";
	size_t n = 0;
	for (; t->name; t++) {
		if (!(v & t->bit))
			continue;
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%s", n ? "|" : "",
				      t->name);
		v &= ~(uint64_t)t->bit;
		if (n >= sizeof(s))
			break;
	}
	if (v && n < sizeof(s))
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%#llx",
				      n ? "|" : "", (unsigned long long)v);
	lf_str(l, k, n ? s : "none");
}

/* An index with a name: text "region=7(CONFIG)", JSON region + region_name. */
static void lf_index(struct line *l, const char *k, uint32_t v,
		     const char *const *names, unsigned n)
{
	const char *name = v < n ? names[v] : NULL;
	if (l->json) {
		char ks[64];
		json_object_object_add(l->fields, k, json_object_new_uint64(v));
		if (name) {
			snprintf(ks, sizeof(ks), "%s_name", k);
			json_object_object_add(l->fields, ks,
					       json_object_new_string(name));
		}
	} else if (name) {
		tprintf(l, " %s=%u(%s)", k, v, name);
	} else {
		tprintf(l, " %s=%u", k, v);
	}
}

static const char *errno_name(int e)
{
	/* glibc names 95 EOPNOTSUPP, a socket error; vfio-user (and this
	 * library) mean ENOTSUP, the same number on Linux. */
	if (e == ENOTSUP)
		return "ENOTSUP";
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* ---- names ------------------------------------------------------------- */

static const char *const region_names[] = {
	"BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "CONFIG", "VGA",
};
static const char *const irq_names[] = { "INTx", "MSI", "MSI-X", "ERR", "REQ" };
#define NNAMES(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

static const struct bitname dma_map_bits[] = {
	{ UVFIO_DMA_MAP_READ, "READ" }, { UVFIO_DMA_MAP_WRITE, "WRITE" },
	{ UVFIO_DMA_MAP_MMAP, "MMAP" }, { UVFIO_DMA_MAP_FILE_IO, "FILE_IO" },
	{ 0, NULL },
};
static const struct bitname dma_unmap_bits[] = {
	{ UVFIO_DMA_UNMAP_ALL, "ALL" },
	{ UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP, "GET_DIRTY_BITMAP" },
	{ 0, NULL },
};
static const struct bitname dev_bits[] = {
	{ UVFIO_DEV_PCI, "PCI" }, { UVFIO_DEV_RESET, "RESET" }, { 0, NULL },
};
static const struct bitname region_bits[] = {
	{ UVFIO_REGION_READ, "READ" }, { UVFIO_REGION_WRITE, "WRITE" },
	{ UVFIO_REGION_MMAP, "MMAP" }, { UVFIO_REGION_CAPS, "CAPS" },
	{ 0, NULL },
};
static const struct bitname irq_info_bits[] = {
	{ UVFIO_IRQ_INFO_EVENTFD, "EVENTFD" },
	{ UVFIO_IRQ_INFO_MASKABLE, "MASKABLE" },
	{ UVFIO_IRQ_INFO_AUTOMASKED, "AUTOMASKED" },
	{ UVFIO_IRQ_INFO_NORESIZE, "NORESIZE" },
	{ 0, NULL },
};
static const struct bitname irq_data_bits[] = {
	{ UVFIO_IRQ_DATA_NONE, "NONE" }, { UVFIO_IRQ_DATA_BOOL, "BOOL" },
	{ UVFIO_IRQ_DATA_EVENTFD, "EVENTFD" }, { 0, NULL },
};
static const struct bitname irq_action_bits[] = {
	{ UVFIO_IRQ_ACTION_MASK, "MASK" }, { UVFIO_IRQ_ACTION_UNMASK, "UNMASK" },
	{ UVFIO_IRQ_ACTION_TRIGGER, "TRIGGER" }, { 0, NULL },
};
static const struct bitname feature_op_bits[] = {
	{ UVFIO_FEATURE_GET, "GET" }, { UVFIO_FEATURE_SET, "SET" },
	{ UVFIO_FEATURE_PROBE, "PROBE" }, { 0, NULL },
};
static const struct bitname mig_bits[] = {
	{ UVFIO_MIGRATION_STOP_COPY, "STOP_COPY" },
	{ UVFIO_MIGRATION_P2P, "P2P" },
	{ UVFIO_MIGRATION_PRE_COPY, "PRE_COPY" },
	{ 0, NULL },
};
static const struct bitname dirty_bits[] = {
	{ UVFIO_DIRTY_PAGES_START, "START" }, { UVFIO_DIRTY_PAGES_STOP, "STOP" },
	{ UVFIO_DIRTY_PAGES_GET_BITMAP, "GET_BITMAP" }, { 0, NULL },
};
static const char *const mig_states[] = {
	"ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P",
};

static const char *feature_name(uint32_t f)
{
	switch (f) {
	case UVFIO_FEATURE_MIGRATION: return "MIGRATION";
	case UVFIO_FEATURE_MIG_DEVICE_STATE: return "MIG_DEVICE_STATE";
	case UVFIO_FEATURE_DMA_LOGGING_START: return "DMA_LOGGING_START";
	case UVFIO_FEATURE_DMA_LOGGING_STOP: return "DMA_LOGGING_STOP";
	case UVFIO_FEATURE_DMA_LOGGING_REPORT: return "DMA_LOGGING_REPORT";
	}
	return NULL;
}

/* ---- output ------------------------------------------------------------ */

static void line_begin(struct session *s, struct line *l, enum dir d,
		       const struct uvfio_hdr *h, unsigned nfds)
{
	bool reply = (h->flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY;
	memset(l, 0, sizeof(*l));
	l->json = s->o->json;
	if (l->json) {
		l->obj = json_object_new_object();
		l->fields = json_object_new_object();
		json_object *fl = json_object_new_array();
		json_object_object_add(l->obj, "dir",
				       json_object_new_string(dir_name[d]));
		json_object_object_add(l->obj, "id",
				       json_object_new_int(h->msg_id));
		json_object_object_add(l->obj, "cmd",
				       json_object_new_string(uvfio_cmd_name(h->cmd)));
		json_object_object_add(l->obj, "cmd_num",
				       json_object_new_int(h->cmd));
		json_object_object_add(l->obj, "type",
				       json_object_new_string(reply ? "reply"
								    : "command"));
		if (h->flags & UVFIO_F_NO_REPLY)
			json_object_array_add(fl, json_object_new_string("NO_REPLY"));
		if (h->flags & UVFIO_F_ERROR) {
			json_object_array_add(fl, json_object_new_string("ERROR"));
			json_object_object_add(l->obj, "errno",
					       json_object_new_int64(h->error_no));
			json_object_object_add(
				l->obj, "error",
				json_object_new_string(errno_name((int)h->error_no)));
		}
		json_object_object_add(l->obj, "flags", fl);
		json_object_object_add(l->obj, "nfds", json_object_new_int((int)nfds));
		json_object_object_add(l->obj, "size",
				       json_object_new_int64(h->msg_size));
		return;
	}
	if (h->cmd >= 1 && h->cmd <= UVFIO_CMD_MAX)
		tprintf(l, "%s id=%u %s %s", dir_name[d], h->msg_id,
			uvfio_cmd_name(h->cmd), reply ? "reply" : "command");
	else
		tprintf(l, "%s id=%u CMD_%u %s", dir_name[d], h->msg_id, h->cmd,
			reply ? "reply" : "command");
	if (h->flags & UVFIO_F_NO_REPLY)
		tprintf(l, " NO_REPLY");
	if (h->flags & UVFIO_F_ERROR)
		tprintf(l, " ERROR(%s)", errno_name((int)h->error_no));
}

static void line_malformed(struct line *l, int err, const char *why)
{
	char s[256];
	snprintf(s, sizeof(s), "%s (%s)", why ? why : "rejected",
		 errno_name(err < 0 ? -err : err));
	if (l->json)
		json_object_object_add(l->obj, "malformed",
				       json_object_new_string(s));
	else
		tprintf(l, " MALFORMED: %s", s);
}

/* latency_ns: UINT64_MAX when there is none to report. */
static void line_end(struct session *s, struct line *l, unsigned nfds,
		     uint64_t latency_ns)
{
	if (l->json) {
		json_object_object_add(l->obj, "fields", l->fields);
		json_object_object_add(
			l->obj, "latency_us",
			latency_ns == UINT64_MAX
				? NULL
				: json_object_new_uint64(latency_ns / 1000));
		fprintf(s->out, "%s\n",
			json_object_to_json_string_ext(l->obj,
						       JSON_C_TO_STRING_PLAIN));
		json_object_put(l->obj);
	} else {
		if (nfds)
			tprintf(l, " nfds=%u", nfds);
		if (latency_ns != UINT64_MAX)
			tprintf(l, " latency=%lluus",
				(unsigned long long)(latency_ns / 1000));
		fprintf(s->out, "%s\n", l->buf ? l->buf : "");
	}
	free(l->buf);
}

/* Session events: a "---" line, or a JSON object with "event". */
__attribute__((format(printf, 3, 4)))
static void event(struct session *s, const char *what, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->o->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "event", json_object_new_string(what));
		json_object_object_add(o, "detail", json_object_new_string(msg));
		fprintf(s->out, "%s\n",
			json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		fprintf(s->out, "--- %s\n", msg);
	}
}

/* ---- outstanding commands ---------------------------------------------- */

static void ptable_push(struct ptable *t, const struct pending *p)
{
	if (!t->ring) {
		t->ring = calloc(PENDING_MAX, sizeof(*t->ring));
		if (!t->ring)
			return; /* replies then show as unmatched */
	}
	if (t->len == PENDING_MAX) {
		/* A peer that never replies must not grow us: forget the
		 * oldest; its reply, if it ever comes, shows as unmatched. */
		t->head = (t->head + 1) % PENDING_MAX;
		t->len--;
	}
	t->ring[(t->head + t->len) % PENDING_MAX] = *p;
	t->ring[(t->head + t->len) % PENDING_MAX].active = true;
	t->len++;
}

/* The oldest outstanding command with this id and command number. */
static bool ptable_take(struct ptable *t, uint16_t id, uint16_t cmd,
			struct pending *out)
{
	for (unsigned i = 0; i < t->len; i++) {
		struct pending *p = &t->ring[(t->head + i) % PENDING_MAX];
		if (!p->active || p->exp.msg_id != id || p->exp.cmd != cmd)
			continue;
		*out = *p;
		p->active = false;
		while (t->len && !t->ring[t->head].active) {
			t->head = (t->head + 1) % PENDING_MAX;
			t->len--;
		}
		return true;
	}
	return false;
}

static void ptable_free(struct ptable *t)
{
	free(t->ring);
	memset(t, 0, sizeof(*t));
}

/* ---- decoding commands ------------------------------------------------- */

static void decode_version(struct line *l, uint16_t major, uint16_t minor,
			   const char *json)
{
	char v[32];
	snprintf(v, sizeof(v), "%u.%u", major, minor);
	lf_str(l, "version", v);
	if (json)
		lf_str(l, "json", json);
}

static void decode_sparse(struct line *l, const struct uvfio_region_caps *c)
{
	if (l->json) {
		json_object *a = json_object_new_array();
		for (uint32_t i = 0; i < c->nr_areas; i++) {
			struct uvfio_sparse_area sa;
			memcpy(&sa, c->areas + i * sizeof(sa), sizeof(sa));
			json_object *o = json_object_new_object();
			json_object_object_add(o, "offset",
					       json_object_new_uint64(sa.offset));
			json_object_object_add(o, "size",
					       json_object_new_uint64(sa.size));
			json_object_array_add(a, o);
		}
		json_object_object_add(l->fields, "sparse", a);
		return;
	}
	tprintf(l, " sparse=[");
	for (uint32_t i = 0; i < c->nr_areas && i < SPARSE_SHOWN; i++) {
		struct uvfio_sparse_area sa;
		memcpy(&sa, c->areas + i * sizeof(sa), sizeof(sa));
		tprintf(l, "%s0x%llx+0x%llx", i ? "," : "",
			(unsigned long long)sa.offset,
			(unsigned long long)sa.size);
	}
	tprintf(l, "%s]", c->nr_areas > SPARSE_SHOWN ? ",..." : "");
}

static void decode_feature_cmd(struct line *l, const struct uvfio_cmd_view *v,
			       bool hex)
{
	uint32_t f = v->u.feature.feature;
	uint32_t op = v->u.feature.req.flags & ~UVFIO_FEATURE_MASK;
	const char *name = feature_name(f);
	if (name)
		lf_str(l, "feature", name);
	else
		lf_u(l, "feature", f);
	lf_bits(l, "op", op, feature_op_bits);
	lf_u(l, "argsz", v->u.feature.req.argsz);
	if (op & UVFIO_FEATURE_PROBE)
		return;
	if (f == UVFIO_FEATURE_MIG_DEVICE_STATE && (op & UVFIO_FEATURE_SET) &&
	    v->u.feature.data_len >= sizeof(struct uvfio_feature_mig_state)) {
		struct uvfio_feature_mig_state ms;
		memcpy(&ms, v->u.feature.data, sizeof(ms));
		lf_index(l, "state", ms.device_state, mig_states,
			 NNAMES(mig_states));
	} else if (f == UVFIO_FEATURE_DMA_LOGGING_START &&
		   v->u.feature.data_len >=
			   sizeof(struct uvfio_feature_log_start)) {
		struct uvfio_feature_log_start ls;
		memcpy(&ls, v->u.feature.data, sizeof(ls));
		lf_x(l, "page_size", ls.page_size);
		lf_u(l, "ranges", ls.num_ranges);
	} else if (f == UVFIO_FEATURE_DMA_LOGGING_REPORT &&
		   v->u.feature.data_len >=
			   sizeof(struct uvfio_feature_log_report)) {
		struct uvfio_feature_log_report lr;
		memcpy(&lr, v->u.feature.data, sizeof(lr));
		lf_range(l, "iova", lr.iova, lr.length);
		lf_x(l, "page_size", lr.page_size);
	} else if (hex && v->u.feature.data_len) {
		lf_hex(l, "data", v->u.feature.data, v->u.feature.data_len);
	}
}

/*
 * Fields of a command that parsed, and what its reply must look like.
 * The expectations mirror what the library's own client and server check,
 * so a reply the real peer would refuse shows as MALFORMED here too.
 */
static void decode_command(struct session *s, struct line *l,
			   const struct uvfio_cmd_view *v, struct pending *p)
{
	bool hex = s->o->hex;
	struct uvfio_expect *e = &p->exp;

	switch (v->hdr.cmd) {
	case UVFIO_CMD_VERSION:
		decode_version(l, v->u.version.major, v->u.version.minor,
			       v->u.version.json);
		e->max_fds = 1; /* a twin socket */
		break;
	case UVFIO_CMD_DMA_MAP: {
		const struct uvfio_dma_map *m = &v->u.dma_map;
		lf_range(l, "iova", m->addr, m->size);
		lf_x(l, "offset", m->offset);
		lf_bits(l, "flags", m->flags, dma_map_bits);
		lf_bool(l, "fd", v->nfds > 0);
		break;
	}
	case UVFIO_CMD_DMA_UNMAP: {
		const struct uvfio_dma_unmap *u = &v->u.dma_unmap.req;
		lf_range(l, "iova", u->addr, u->size);
		lf_bits(l, "flags", u->flags, dma_unmap_bits);
		if (u->flags & UVFIO_DMA_UNMAP_GET_DIRTY_BITMAP) {
			lf_x(l, "bitmap_pgsize", v->u.dma_unmap.bitmap.pgsize);
			lf_u(l, "bitmap_size", v->u.dma_unmap.bitmap.size);
		}
		e->argsz = u->argsz;
		break;
	}
	case UVFIO_CMD_DEVICE_GET_INFO:
		lf_u(l, "argsz", v->u.device_info.argsz);
		e->argsz = v->u.device_info.argsz;
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO:
		lf_index(l, "index", v->u.region_info.index, region_names,
			 NNAMES(region_names));
		lf_u(l, "argsz", v->u.region_info.argsz);
		e->argsz = v->u.region_info.argsz;
		e->index = v->u.region_info.index;
		e->max_fds = 1;
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		lf_index(l, "index", v->u.io_fds.index, region_names,
			 NNAMES(region_names));
		lf_u(l, "argsz", v->u.io_fds.argsz);
		e->argsz = v->u.io_fds.argsz;
		e->index = v->u.io_fds.index;
		e->max_fds = s->ccaps.max_msg_fds;
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		lf_index(l, "index", v->u.irq_info.index, irq_names,
			 NNAMES(irq_names));
		e->argsz = v->u.irq_info.argsz;
		e->index = v->u.irq_info.index;
		break;
	case UVFIO_CMD_DEVICE_SET_IRQS: {
		const struct uvfio_irq_set *q = &v->u.irq_set.req;
		lf_index(l, "index", q->index, irq_names, NNAMES(irq_names));
		lf_u(l, "start", q->start);
		lf_u(l, "count", q->count);
		lf_bits(l, "action", q->flags & UVFIO_IRQ_ACTION_MASK_ALL,
			irq_action_bits);
		lf_bits(l, "data", q->flags & UVFIO_IRQ_DATA_MASK,
			irq_data_bits);
		if (v->u.irq_set.bools && hex)
			lf_hex(l, "bools", v->u.irq_set.bools, q->count);
		break;
	}
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE: {
		const struct uvfio_region_rw *r = &v->u.region_rw.req;
		lf_index(l, "region", r->region, region_names,
			 NNAMES(region_names));
		lf_x(l, "offset", r->offset);
		lf_u(l, "count", r->count);
		if (hex && v->u.region_rw.data)
			lf_hex(l, "data", v->u.region_rw.data, r->count);
		e->index = r->region;
		e->addr = r->offset;
		e->count = r->count;
		break;
	}
	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE:
		lf_x(l, "addr", v->u.dma_rw.addr);
		lf_u(l, "count", v->u.dma_rw.count);
		if (hex && v->u.dma_rw.data)
			lf_hex(l, "data", v->u.dma_rw.data, v->u.dma_rw.count);
		e->addr = v->u.dma_rw.addr;
		e->count = v->u.dma_rw.count;
		e->dma_layout = s->qemu_layout ? UVFIO_DMA_LAYOUT_QEMU
					       : UVFIO_DMA_LAYOUT_SPEC;
		break;
	case UVFIO_CMD_DEVICE_RESET:
		break;
	case UVFIO_CMD_DIRTY_PAGES:
		lf_bits(l, "flags", v->u.dirty_pages.flags, dirty_bits);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI: {
		struct uvfio_write_multi_entry w;
		lf_u(l, "entries", v->u.write_multi.n);
		memcpy(&w, v->u.write_multi.wrs, sizeof(w));
		lf_index(l, "region", w.region, region_names,
			 NNAMES(region_names));
		lf_x(l, "offset", w.offset);
		lf_u(l, "count", w.count);
		if (hex)
			lf_hex(l, "data", w.data, w.count);
		break;
	}
	case UVFIO_CMD_DEVICE_FEATURE:
		decode_feature_cmd(l, v, hex);
		e->argsz = v->u.feature.req.argsz;
		p->feature = v->u.feature.feature;
		p->feature_op = v->u.feature.req.flags & ~UVFIO_FEATURE_MASK;
		break;
	case UVFIO_CMD_MIG_DATA_READ:
	case UVFIO_CMD_MIG_DATA_WRITE:
		lf_u(l, "size", v->u.mig_data.req.size);
		lf_u(l, "argsz", v->u.mig_data.req.argsz);
		if (hex && v->u.mig_data.data)
			lf_hex(l, "data", v->u.mig_data.data,
			       v->u.mig_data.req.size);
		e->count = v->u.mig_data.req.size;
		break;
	}
}

/*
 * QEMU 10.x sends nothing server-to-client but answers in its own layout,
 * and our server library writes DMA_WRITE to it in that layout (codec.h):
 * decode it the same way, and flag what QEMU itself would refuse.
 */
static int parse_qemu_dma_write(const uint8_t *buf, size_t len, unsigned nfds,
				uint32_t max_xfer, struct uvfio_cmd_view *v)
{
	struct uvfio_dma_rw_qemu q;
	size_t off = uvfio_dma_data_offset(UVFIO_DMA_LAYOUT_QEMU);
	memset(v, 0, sizeof(*v));
	memcpy(&v->hdr, buf, sizeof(v->hdr));
	v->payload = buf + UVFIO_HDR_SIZE;
	v->len = (uint32_t)(len - UVFIO_HDR_SIZE);
	v->nfds = nfds;
	if (nfds) {
		v->why = "fds attached to a command that takes none";
		return -EINVAL;
	}
	if (len < UVFIO_DMA_QEMU_MIN_MSG) {
		v->why = "QEMU-layout DMA_WRITE shorter than 32 bytes (QEMU "
			 "answers EINVAL)";
		return -EINVAL;
	}
	memcpy(&q, v->payload, sizeof(q));
	if (q.count > max_xfer) {
		v->why = "DMA access count exceeds max_data_xfer_size";
		return -E2BIG;
	}
	if (q.count > len - UVFIO_DMA_QEMU_MIN_MSG) {
		v->why = "QEMU-layout DMA_WRITE lacks the 4 bytes after its "
			 "data (QEMU answers E2BIG)";
		return -E2BIG;
	}
	v->u.dma_rw.addr = q.addr;
	v->u.dma_rw.count = q.count;
	v->u.dma_rw.data = buf + off;
	return 0;
}

/* ---- decoding replies -------------------------------------------------- */

static void decode_reply(struct session *s, struct line *l,
			 const struct uvfio_reply_view *v,
			 const struct pending *p)
{
	bool hex = s->o->hex;

	if (v->error)
		return;
	switch (v->hdr.cmd) {
	case UVFIO_CMD_VERSION:
		decode_version(l, v->u.version.major, v->u.version.minor,
			       v->u.version.json);
		break;
	case UVFIO_CMD_DMA_UNMAP:
		lf_range(l, "iova", v->u.dma_unmap.addr, v->u.dma_unmap.size);
		lf_bits(l, "flags", v->u.dma_unmap.flags, dma_unmap_bits);
		break;
	case UVFIO_CMD_DEVICE_GET_INFO:
		lf_bits(l, "flags", v->u.device_info.flags, dev_bits);
		lf_u(l, "regions", v->u.device_info.num_regions);
		lf_u(l, "irqs", v->u.device_info.num_irqs);
		break;
	case UVFIO_CMD_DEVICE_GET_REGION_INFO: {
		const struct uvfio_region_info *ri = &v->u.region_info.info;
		lf_index(l, "index", ri->index, region_names,
			 NNAMES(region_names));
		lf_x(l, "size", ri->size);
		lf_bits(l, "flags", ri->flags, region_bits);
		lf_u(l, "argsz", ri->argsz);
		if (ri->flags & UVFIO_REGION_MMAP)
			lf_x(l, "mmap_offset", ri->offset);
		if (!v->u.region_info.complete)
			lf_str(l, "caps", "truncated");
		lf_bool(l, "fd", v->nfds > 0);
		break;
	}
	case UVFIO_CMD_DEVICE_GET_REGION_IO_FDS:
		lf_index(l, "index", v->u.io_fds.hdr.index, region_names,
			 NNAMES(region_names));
		lf_u(l, "count", v->u.io_fds.hdr.count);
		lf_u(l, "argsz", v->u.io_fds.hdr.argsz);
		if (v->u.io_fds.stride)
			lf_u(l, "entry_size", v->u.io_fds.stride);
		break;
	case UVFIO_CMD_DEVICE_GET_IRQ_INFO:
		lf_index(l, "index", v->u.irq_info.index, irq_names,
			 NNAMES(irq_names));
		lf_u(l, "count", v->u.irq_info.count);
		lf_bits(l, "flags", v->u.irq_info.flags, irq_info_bits);
		break;
	case UVFIO_CMD_REGION_READ:
	case UVFIO_CMD_REGION_WRITE:
		lf_u(l, "count", v->u.region_rw.count);
		if (hex && v->u.region_rw.data)
			lf_hex(l, "data", v->u.region_rw.data,
			       v->u.region_rw.count);
		break;
	case UVFIO_CMD_DMA_READ:
	case UVFIO_CMD_DMA_WRITE:
		lf_x(l, "addr", p->exp.addr);
		lf_u(l, "count", v->u.dma_rw.count);
		if (hex && v->u.dma_rw.data)
			lf_hex(l, "data", v->u.dma_rw.data, v->u.dma_rw.count);
		break;
	case UVFIO_CMD_REGION_WRITE_MULTI:
		lf_u(l, "done", v->u.write_multi_done);
		break;
	case UVFIO_CMD_DEVICE_FEATURE: {
		const char *name = feature_name(p->feature);
		if (name)
			lf_str(l, "feature", name);
		else
			lf_u(l, "feature", p->feature);
		lf_bits(l, "op", p->feature_op, feature_op_bits);
		lf_u(l, "argsz", v->u.feature.hdr.argsz);
		if (!(p->feature_op & UVFIO_FEATURE_GET))
			break;
		if (p->feature == UVFIO_FEATURE_MIGRATION &&
		    v->u.feature.data_len >= sizeof(struct uvfio_feature_migration)) {
			struct uvfio_feature_migration m;
			memcpy(&m, v->u.feature.data, sizeof(m));
			lf_bits(l, "migration", m.flags, mig_bits);
		} else if (p->feature == UVFIO_FEATURE_MIG_DEVICE_STATE &&
			   v->u.feature.data_len >=
				   sizeof(struct uvfio_feature_mig_state)) {
			struct uvfio_feature_mig_state ms;
			memcpy(&ms, v->u.feature.data, sizeof(ms));
			lf_index(l, "state", ms.device_state, mig_states,
				 NNAMES(mig_states));
		} else {
			lf_u(l, "data_len", v->u.feature.data_len);
			if (hex && v->u.feature.data_len)
				lf_hex(l, "data", v->u.feature.data,
				       v->u.feature.data_len);
		}
		break;
	}
	case UVFIO_CMD_MIG_DATA_READ:
		lf_u(l, "size", v->u.mig_data.size);
		if (hex)
			lf_hex(l, "data", v->u.mig_data.data, v->u.mig_data.size);
		break;
	}
}

/* ---- VERSION and the twin socket --------------------------------------- */

/*
 * The client's VERSION without "twin_socket", as a new message, or NULL
 * when there is nothing to take out (or it cannot be parsed: then the
 * server sees the original and refuses it itself).  json-c keeps every
 * other key, unknown ones included, so only the twin offer changes.
 */
static uint8_t *strip_twin(const uint8_t *buf, size_t len, unsigned nfds,
			   size_t *out_len)
{
	struct uvfio_limits lim = { .max_data_xfer = UINT32_MAX };
	struct uvfio_cmd_view v;
	json_object *root, *caps;
	uint8_t *out = NULL;

	if (nfds || uvfio_parse_command(buf, len, 0, UVFIO_ROLE_SERVER, &lim,
					&v) || !v.u.version.json)
		return NULL;
	root = json_tokener_parse(v.u.version.json);
	if (!root)
		return NULL;
	if (json_object_object_get_ex(root, "capabilities", &caps) &&
	    json_object_is_type(caps, json_type_object) &&
	    json_object_object_get_ex(caps, "twin_socket", NULL)) {
		json_object_object_del(caps, "twin_socket");
		const char *js =
			json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
		size_t jl = strlen(js) + 1;
		size_t n = UVFIO_HDR_SIZE + sizeof(struct uvfio_version) + jl;
		out = malloc(n);
		if (out) {
			struct uvfio_hdr h;
			memcpy(&h, buf, sizeof(h));
			h.msg_size = (uint32_t)n;
			memcpy(out, &h, sizeof(h));
			memcpy(out + UVFIO_HDR_SIZE, buf + UVFIO_HDR_SIZE,
			       sizeof(struct uvfio_version));
			memcpy(out + UVFIO_HDR_SIZE + sizeof(struct uvfio_version),
			       js, jl);
			*out_len = n;
		}
	}
	json_object_put(root);
	return out;
}

/* The server library's rule for QEMU's DMA message layout (it cannot be
 * negotiated), applied to the VERSION the server received. */
static bool looks_like_qemu(uint16_t minor, const struct uvfio_caps *c)
{
	int env = app_qemu_layout_env(); /* as the sample devices read it */
	if (env >= 0)
		return env;
	return minor == 0 && !c->twin_socket &&
	       (c->present & UVFIO_CAP_HAS_WRITE_MULTIPLE) &&
	       (c->present & UVFIO_CAP_HAS_PGSIZES);
}

/* ---- one message --------------------------------------------------------- */

/* Print one command; returns 0 or the parser's error. */
static int trace_command(struct session *s, enum dir d, const uint8_t *buf,
			 size_t len, unsigned nfds, bool stripped,
			 uint64_t t)
{
	struct uvfio_cmd_view v;
	struct uvfio_limits lim;
	struct pending p = { .t_ns = t };
	struct line l;
	int r;

	/* Limits the receiving end announced: what it will enforce. */
	const struct uvfio_caps *rx = d == C2S ? &s->scaps : &s->ccaps;
	lim.max_data_xfer = rx->max_data_xfer_size;
	lim.max_msg_fds = rx->max_msg_fds;
	lim.write_multiple = rx->write_multiple;

	struct uvfio_hdr h;
	memcpy(&h, buf, sizeof(h));
	if (d == S2C && h.cmd == UVFIO_CMD_DMA_WRITE && s->qemu_layout)
		r = parse_qemu_dma_write(buf, len, nfds, lim.max_data_xfer, &v);
	else
		r = uvfio_parse_command(buf, len, nfds,
					d == C2S ? UVFIO_ROLE_SERVER
						 : UVFIO_ROLE_CLIENT,
					&lim, &v);
	line_begin(s, &l, d, &h, nfds);
	p.exp.cmd = h.cmd;
	p.exp.msg_id = h.msg_id;
	if (r) {
		line_malformed(&l, r, v.why);
		p.bad = true;
	} else {
		decode_command(s, &l, &v, &p);
	}
	if (stripped)
		lf_str(&l, "twin_socket", "stripped");

	if (!r && h.cmd == UVFIO_CMD_VERSION && d == C2S) {
		/* What the server now knows of the client. */
		if (uvfio_caps_parse(v.u.version.json, v.u.version.json_len,
				     &s->ccaps, NULL))
			uvfio_caps_defaults(&s->ccaps);
		s->qemu_layout = looks_like_qemu(v.u.version.minor, &s->ccaps);
		if (s->qemu_layout)
			lf_str(&l, "dma_layout", "qemu");
	}
	if (!(h.flags & UVFIO_F_NO_REPLY))
		ptable_push(&s->pend[d], &p);
	line_end(s, &l, nfds, UINT64_MAX);
	return r;
}

static int trace_reply(struct session *s, enum dir d, const uint8_t *buf,
		       size_t len, unsigned nfds, uint64_t t)
{
	struct uvfio_hdr h;
	struct pending p;
	struct line l;
	int r = 0;

	memcpy(&h, buf, sizeof(h));
	line_begin(s, &l, d, &h, nfds);
	/* A reply answers a command that went the other way. */
	if (!ptable_take(&s->pend[!d], h.msg_id, h.cmd, &p)) {
		r = -EPROTO;
		line_malformed(&l, r, "reply matches no outstanding command");
		line_end(s, &l, nfds, UINT64_MAX);
		return r;
	}
	if (p.bad) {
		/* Nothing to check it against: the server's verdict on a
		 * malformed command is worth seeing, not judging. */
		line_end(s, &l, nfds, t - p.t_ns);
		return 0;
	}
	struct uvfio_reply_view v;
	r = uvfio_parse_reply(buf, len, nfds, &p.exp, &v);
	if (r) {
		line_malformed(&l, r, v.why);
	} else {
		decode_reply(s, &l, &v, &p);
		if (h.cmd == UVFIO_CMD_DEVICE_GET_REGION_INFO && !v.error &&
		    v.u.region_info.complete) {
			struct uvfio_region_caps rc;
			const char *why = NULL;
			r = uvfio_parse_region_caps(v.payload, v.len, &rc, &why);
			if (r) {
				line_malformed(&l, r, why);
			} else {
				if (rc.has_sparse)
					decode_sparse(&l, &rc);
				if (rc.has_type) {
					lf_x(&l, "type", rc.type);
					lf_x(&l, "subtype", rc.subtype);
				}
				if (rc.msix_mappable)
					lf_bool(&l, "msix_mappable", true);
			}
		}
		if (h.cmd == UVFIO_CMD_VERSION && !v.error) {
			if (uvfio_caps_parse(v.u.version.json,
					     v.u.version.json_len, &s->scaps,
					     NULL))
				uvfio_caps_defaults(&s->scaps);
			/* A server that makes a twin unasked: its DMA goes
			 * where this proxy cannot see it. */
			if (s->scaps.twin_socket)
				lf_str(&l, "twin_socket", "UNTRACED");
		}
	}
	line_end(s, &l, nfds, t - p.t_ns);
	return r;
}

/* ---- forwarding ---------------------------------------------------------- */

static struct side *other(struct session *s, struct side *x)
{
	return x == &s->cl ? &s->sv : &s->cl;
}

struct deliver_ctx {
	struct session *s;
	struct side *src;
};

static int on_msg(void *opaque, struct tp_msg *m)
{
	struct deliver_ctx *c = opaque;
	struct session *s = c->s;
	struct side *dst = other(s, c->src);
	enum dir d = c->src->from;
	size_t pend = tp_tx_pending(&dst->tp);
	struct uvfio_hdr h;

	/* Back-pressure: leave the message where it is until the other
	 * side drains, so a stalled peer cannot make the proxy grow. */
	if (m->nfds && dst->tp.txq_len == TP_TX_FD_MSGS)
		return TP_PAUSE;
	if (pend && pend + m->size > dst->tp.tx_limit)
		return TP_PAUSE;

	uint64_t t = now_ns();
	const uint8_t *buf = m->buf;
	size_t len = m->size;
	uint8_t *rewritten = NULL;
	int r;

	memcpy(&h, buf, sizeof(h));
	bool reply = (h.flags & UVFIO_F_TYPE_MASK) == UVFIO_F_TYPE_REPLY;
	if (d == C2S && !reply && h.cmd == UVFIO_CMD_VERSION) {
		size_t n;
		rewritten = strip_twin(buf, len, m->nfds, &n);
		if (rewritten) {
			buf = rewritten;
			len = n;
		}
	}
	if (reply)
		r = trace_reply(s, d, buf, len, m->nfds, t);
	else
		r = trace_command(s, d, buf, len, m->nfds, rewritten != NULL, t);
	if (r && s->o->cut) {
		free(rewritten);
		s->cut_why = "malformed message and --cut-malformed";
		c->src->tp.why = s->cut_why;
		return -EPROTO;
	}
	r = tp_send(&dst->tp, buf, len, m->fds, m->nfds);
	free(rewritten);
	if (r) {
		c->src->tp.why = "cannot queue the message for the other side";
		return r;
	}
	return 0;
}

static void session_end(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void session_end(struct session *s, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	/* What one side said before leaving still reaches the other, if
	 * its socket has room now. */
	if (!s->cut_why) {
		tp_flush(&s->cl.tp);
		tp_flush(&s->sv.tp);
	}
	tp_fini(&s->cl.tp);
	tp_fini(&s->sv.tp);
	ptable_free(&s->pend[0]);
	ptable_free(&s->pend[1]);
	s->active = false;
	event(s, "disconnect", "%s; waiting for the next client", msg);
}

/*
 * Connect without blocking the proxy: a server that serves one client at
 * a time leaves later connects waiting in its backlog (EAGAIN on a
 * non-blocking UNIX socket), and SIGTERM must still work meanwhile.
 */
static int connect_server(const char *path, const sigset_t *waitmask)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (int tries = 0; tries < CONNECT_TRIES && !stop_sig; tries++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (errno != EAGAIN && errno != EINTR)
			break;
		struct timespec ts = { 0, CONNECT_WAIT_MS * 1000000L };
		ppoll(NULL, 0, &ts, waitmask);
		errno = EAGAIN;
	}
	int err = stop_sig ? EINTR : errno;
	close(fd);
	return -err;
}

static void session_begin(struct session *s, int cfd, const sigset_t *waitmask)
{
	int sfd = connect_server(s->o->connect, waitmask);
	if (sfd < 0) {
		event(s, "connect_failed",
		      "client dropped: cannot connect to the server at %s: %s",
		      s->o->connect,
		      sfd == -EAGAIN ? "it is busy with another client"
		      : stop_sig     ? "uvfio-trace is stopping"
				     : strerror(-sfd));
		close(cfd);
		return;
	}
	tp_init(&s->cl.tp, cfd);
	tp_init(&s->sv.tp, sfd);
	for (int i = 0; i < 2; i++) {
		struct tp *tp = i ? &s->sv.tp : &s->cl.tp;
		tp->max_msg_size = TRACE_MAX_MSG;
		tp->max_fds = TRACE_MAX_FDS;
	}
	s->cl.from = C2S;
	s->sv.from = S2C;
	uvfio_caps_defaults(&s->ccaps);
	uvfio_caps_defaults(&s->scaps);
	s->qemu_layout = false;
	s->cut_why = NULL;
	s->active = true;
	event(s, "connect", "client connected; relaying to %s", s->o->connect);
}

/* Read from x and forward; returns false when the session ended. */
static bool pump(struct session *s, struct side *x)
{
	struct deliver_ctx c = { s, x };
	struct side *y = other(s, x);
	int r = tp_recv(&x->tp, on_msg, &c);
	int f = tp_flush(&y->tp);
	const char *who = x == &s->cl ? "client" : "server";

	if (r == -ECONNRESET) {
		/* Only an unusual way of closing is worth spelling out. */
		const char *why = x->tp.why && strcmp(x->tp.why, "peer closed "
						      "the connection")
					  ? x->tp.why : NULL;
		session_end(s, "%s closed the connection%s%s%s; closed the %s",
			    who, why ? " (" : "", why ? why : "", why ? ")" : "",
			    x == &s->cl ? "server connection" : "client");
		return false;
	}
	if (r < 0) {
		const char *why = x->tp.why ? x->tp.why : strerror(-r);
		if (s->cut_why)
			session_end(s, "%s %s: closed both sides",
				    dir_name[x->from], s->cut_why);
		else
			session_end(s, "%s framing error from the %s: %s (%s); "
				       "the stream cannot be resynchronised, "
				       "closed both sides",
				    dir_name[x->from], who, why,
				    errno_name(-r));
		return false;
	}
	if (f < 0 && f != -EAGAIN) {
		session_end(s, "%s closed the connection (%s); closed the %s",
			    y == &s->cl ? "client" : "server",
			    y->tp.why ? y->tp.why : strerror(-f),
			    y == &s->cl ? "server connection" : "client");
		return false;
	}
	return true;
}

/* x became writable (or closed). */
static bool drain(struct session *s, struct side *x)
{
	int f = tp_flush(&x->tp);
	struct side *y = other(s, x);
	if (f < 0 && f != -EAGAIN) {
		session_end(s, "%s closed the connection (%s); closed the %s",
			    x == &s->cl ? "client" : "server",
			    x->tp.why ? x->tp.why : strerror(-f),
			    x == &s->cl ? "server connection" : "client");
		return false;
	}
	/* Room again: let the paused side go on. */
	if (y->tp.rx_paused)
		return pump(s, y);
	return true;
}

static void set_pollfd(struct pollfd *p, struct side *x)
{
	bool tx = tp_tx_pending(&x->tp) > 0;
	p->events = (short)((x->tp.rx_paused ? 0 : POLLIN) | (tx ? POLLOUT : 0));
	/* Paused with nothing to write: a hang-up must not spin the loop;
	 * the other side's POLLOUT resumes it. */
	p->fd = p->events ? x->tp.fd : -1;
	p->revents = 0;
}

/* ---- main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: uvfio-trace --listen PATH --connect PATH [--json] [--hex]\n"
"                   [--cut-malformed] [-o FILE]\n"
"\n"
"A vfio-user proxy that prints every message it forwards.  It accepts one\n"
"client at a time on --listen, connects to the server at --connect for each\n"
"client, forwards every message and every fd in both directions unchanged,\n"
"and prints one decoded line per message: direction (C>S client to server,\n"
"S>C server to client), id, command, command or reply, NO_REPLY and\n"
"ERROR(errno name) flags, the decoded fields, and for a reply its latency\n"
"since its command in microseconds.  When either side closes, the other is\n"
"closed too and the next client is accepted.\n"
"\n"
"  -l, --listen PATH    UNIX socket to create for the client (removed on exit)\n"
"  -c, --connect PATH   UNIX socket of the vfio-user server\n"
"  -j, --json           one JSON object per line: dir, id, cmd, type, flags,\n"
"                       fields{...}, latency_us, nfds (plus malformed, error);\n"
"                       session events are objects with \"event\"\n"
"  -x, --hex            show the first %u bytes of data in reads and writes\n"
"  -C, --cut-malformed  drop both connections on a malformed message instead\n"
"                       of forwarding it (by default it is printed as\n"
"                       MALFORMED and forwarded: the proxy changes nothing)\n"
"  -o, --output FILE    write the trace to FILE instead of stdout\n"
"  -h, --help           this text\n"
"\n"
"Twin socket: the client's offer (\"twin_socket\" in its VERSION JSON) is\n"
"removed before the VERSION reaches the server, so no twin socket is\n"
"created and the server's DMA_READ/DMA_WRITE travel on the main socket,\n"
"where they are traced.  This is the only change the proxy makes.\n"
"\n"
"A message the codec rejects is printed as MALFORMED with the reason.  A\n"
"framing error (a bad msg_size or message type, fds riding on body bytes)\n"
"ends the session, since the stream cannot be resynchronised.\n"
"\n"
"Limits: messages up to %u MiB and %u fds each; up to %u outstanding\n"
"commands per direction are remembered for matching replies.  A side that\n"
"stops reading stops the proxy reading the other side (no unbounded\n"
"buffering).\n"
"\n"
"Examples:\n"
"  uvfio-dmadev --socket /tmp/dev.sock &\n"
"  uvfio-trace --listen /tmp/trace.sock --connect /tmp/dev.sock &\n"
"  uvfio-lspci -v /tmp/trace.sock\n"
"\n"
"  # QEMU (10.1 or later) pointed at the proxy instead of the device:\n"
"  qemu-system-x86_64 ... -object memory-backend-memfd,id=mem,size=1G,share=on \\\n"
"      -machine memory-backend=mem \\\n"
"      -device '{\"driver\":\"vfio-user-pci\",\"socket\":{\"path\":\"/tmp/trace.sock\",\"type\":\"unix\"}}'\n"
"\n"
"  uvfio-trace --listen /tmp/trace.sock --connect /tmp/dev.sock --json \\\n"
"      --hex -o /tmp/trace.jsonl\n",
		HEX_BYTES, TRACE_MAX_MSG >> 20, TRACE_MAX_FDS, PENDING_MAX);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "hex", no_argument, NULL, 'x' },
		{ "cut-malformed", no_argument, NULL, 'C' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	int opt;

	while ((opt = getopt_long(argc, argv, "l:c:jxCo:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'l': o.listen = optarg; break;
		case 'c': o.connect = optarg; break;
		case 'j': o.json = true; break;
		case 'x': o.hex = true; break;
		case 'C': o.cut = true; break;
		case 'o': o.output = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "uvfio-trace: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o.listen || !o.connect) {
		fprintf(stderr, "uvfio-trace: give --listen PATH and --connect "
				"PATH\n");
		usage(stderr);
		return 2;
	}

	struct session s = { .o = &o, .out = stdout };
	if (o.output) {
		s.out = fopen(o.output, "w");
		if (!s.out) {
			fprintf(stderr, "uvfio-trace: cannot open %s: %s\n",
				o.output, strerror(errno));
			return 1;
		}
	}
	/* Each line as it happens: the trace is watched live with tail. */
	setvbuf(s.out, NULL, _IOLBF, 0);

	/* The signals are only let in inside ppoll(), so one arriving
	 * between the check and the wait cannot be missed. */
	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	app_on_stop_signals(on_signal);

	int lfd = usock_listen(o.listen);
	if (lfd < 0) {
		fprintf(stderr, "uvfio-trace: cannot listen on %s: %s\n",
			o.listen, lfd == -EEXIST ? "a file that is not a socket "
						   "is in the way"
						 : strerror(-lfd));
		return 1;
	}
	fprintf(stderr, "uvfio-trace: listening on %s, relaying to %s\n",
		o.listen, o.connect);

	int status = 0;
	while (!stop_sig) {
		struct pollfd pf[2];
		nfds_t n;
		if (!s.active) {
			pf[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
			n = 1;
		} else {
			set_pollfd(&pf[0], &s.cl);
			set_pollfd(&pf[1], &s.sv);
			n = 2;
		}
		int r = ppoll(pf, n, NULL, &waitmask);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "uvfio-trace: poll: %s\n", strerror(errno));
			status = 1;
			break;
		}
		if (!s.active) {
			if (!(pf[0].revents & POLLIN))
				continue;
			int cfd = accept4(lfd, NULL, NULL,
					  SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (cfd >= 0)
				session_begin(&s, cfd, &waitmask);
			continue;
		}
		struct side *sides[2] = { &s.cl, &s.sv };
		for (int i = 0; i < 2 && s.active; i++) {
			short ev = pf[i].revents;
			bool tx = tp_tx_pending(&sides[i]->tp) > 0;
			if ((ev & POLLOUT || (tx && ev & (POLLHUP | POLLERR))) &&
			    !drain(&s, sides[i]))
				break;
			if (s.active && (ev & (POLLIN | POLLHUP | POLLERR)) &&
			    !sides[i]->tp.rx_paused && !pump(&s, sides[i]))
				break;
		}
	}

	if (s.active)
		session_end(&s, "uvfio-trace stopping");
	close(lfd);
	unlink(o.listen);
	if (s.out != stdout)
		fclose(s.out);
	else
		fflush(stdout);
	return status;
}
