/* SPDX-License-Identifier: MIT */
/* VERSION capability JSON, read and written with json-c. */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include <uvfio/codec.h>

/* Nesting the tokenizer accepts: what we read is 3 deep, the rest is room
 * for keys we skip; deeper input is refused before it costs memory. */
#define CAPS_JSON_DEPTH 16
/* Smallest page size a peer may offer in pgsizes (the host's). */
#define CAPS_MIN_PGSIZE 4096u

void uvfio_caps_defaults(struct uvfio_caps *c)
{
	memset(c, 0, sizeof(*c));
	c->max_msg_fds = UVFIO_DEFAULT_MAX_MSG_FDS;
	c->max_data_xfer_size = UVFIO_DEFAULT_MAX_DATA_XFER;
	c->max_dma_maps = UVFIO_DEFAULT_MAX_DMA_MAPS;
	c->pgsizes = UVFIO_DEFAULT_PGSIZES;
}

/* A JSON integer that is not negative; json-c keeps values above INT64_MAX
 * as unsigned, so both getters are needed to tell the sign. */
static int get_uint(json_object *o, uint64_t *out)
{
	if (!json_object_is_type(o, json_type_int))
		return -EINVAL;
	if (json_object_get_int64(o) < 0)
		return -EINVAL;
	errno = 0;
	*out = json_object_get_uint64(o);
	return 0;
}

static uint32_t clamp32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Refuse the JSON: a key we know holds what it must not. */
#define BAD(msg)                                                               \
	do {                                                                   \
		*why = (msg);                                                  \
		return -EINVAL;                                                \
	} while (0)

/* The limits a peer states; each, when present, must be in range. */
static int caps_limits(json_object *caps, struct uvfio_caps *c,
		       const char **why)
{
	json_object *o;
	uint64_t u;

	if (json_object_object_get_ex(caps, "max_msg_fds", &o)) {
		if (get_uint(o, &u) || u > UVFIO_MAX_MSG_FDS_LIMIT)
			BAD("max_msg_fds is not an integer in 0..1024");
		c->max_msg_fds = (uint32_t)u;
		c->present |= UVFIO_CAP_HAS_MAX_MSG_FDS;
	}
	if (json_object_object_get_ex(caps, "max_data_xfer_size", &o)) {
		/* Zero would make every transfer impossible to chunk. */
		if (get_uint(o, &u) || u == 0)
			BAD("max_data_xfer_size is not a positive integer");
		c->max_data_xfer_size = clamp32(u);
		c->present |= UVFIO_CAP_HAS_MAX_DATA_XFER;
	}
	if (json_object_object_get_ex(caps, "max_dma_maps", &o)) {
		if (get_uint(o, &u))
			BAD("max_dma_maps is not a non-negative integer");
		c->max_dma_maps = clamp32(u);
		c->present |= UVFIO_CAP_HAS_MAX_DMA_MAPS;
	}
	if (json_object_object_get_ex(caps, "pgsizes", &o)) {
		if (get_uint(o, &u) || u == 0 || (u & (CAPS_MIN_PGSIZE - 1)))
			BAD("pgsizes is not a non-zero mask of sizes >= 4096");
		c->pgsizes = u;
		c->present |= UVFIO_CAP_HAS_PGSIZES;
	}
	return 0;
}

static int caps_twin_socket(json_object *o, struct uvfio_caps *c,
			    const char **why)
{
	json_object *s;
	uint64_t u;

	if (!json_object_is_type(o, json_type_object))
		BAD("twin_socket is not an object");
	if (json_object_object_get_ex(o, "supported", &s)) {
		if (!json_object_is_type(s, json_type_boolean))
			BAD("twin_socket.supported is not a boolean");
		c->twin_socket = json_object_get_boolean(s);
	}
	if (json_object_object_get_ex(o, "fd_index", &s)) {
		if (get_uint(s, &u) || u >= UVFIO_MAX_MSG_FDS_LIMIT)
			BAD("twin_socket.fd_index is not a small "
			    "non-negative integer");
		c->twin_fd_index = (uint32_t)u;
		c->present |= UVFIO_CAP_HAS_TWIN_FD_INDEX;
	}
	c->present |= UVFIO_CAP_HAS_TWIN_SOCKET;
	return 0;
}

static int caps_migration(json_object *o, struct uvfio_caps *c,
			  const char **why)
{
	json_object *s;
	uint64_t u;

	if (!json_object_is_type(o, json_type_object))
		BAD("migration is not an object");
	if (json_object_object_get_ex(o, "pgsize", &s)) {
		if (get_uint(s, &u))
			BAD("migration.pgsize is not an integer");
		c->mig_pgsize = u;
	}
	if (json_object_object_get_ex(o, "max_bitmap_size", &s)) {
		if (get_uint(s, &u))
			BAD("migration.max_bitmap_size is not an integer");
		c->mig_max_bitmap_size = u;
	}
	c->present |= UVFIO_CAP_HAS_MIGRATION;
	return 0;
}

/* The "capabilities" object, key by key in the order they are checked. */
static int caps_read(json_object *caps, struct uvfio_caps *c,
		     const char **why)
{
	json_object *o;
	int ret;

	if (!json_object_is_type(caps, json_type_object))
		BAD("\"capabilities\" is not an object");
	ret = caps_limits(caps, c, why);
	if (ret)
		return ret;
	if (json_object_object_get_ex(caps, "twin_socket", &o)) {
		ret = caps_twin_socket(o, c, why);
		if (ret)
			return ret;
	}
	if (json_object_object_get_ex(caps, "write_multiple", &o)) {
		if (!json_object_is_type(o, json_type_boolean))
			BAD("write_multiple is not a boolean");
		c->write_multiple = json_object_get_boolean(o);
		c->present |= UVFIO_CAP_HAS_WRITE_MULTIPLE;
	}
	if (json_object_object_get_ex(caps, "migration", &o))
		return caps_migration(o, c, why);
	return 0;
}

int uvfio_caps_parse(const char *json, size_t len, struct uvfio_caps *c,
		     const char **why)
{
	const char *dummy;
	json_object *root = NULL, *caps;
	json_tokener *tok = NULL;
	int ret = 0;

	if (!why)
		why = &dummy;
	uvfio_caps_defaults(c);
	if (!json || len == 0)
		return 0;
	if (len > UVFIO_MAX_JSON_LEN) {
		*why = "version JSON longer than 4096 bytes";
		return -E2BIG;
	}
	if (json[len - 1] != '\0' || strlen(json) + 1 != len) {
		*why = "version JSON is not a single NUL-terminated string";
		return -EINVAL;
	}

	tok = json_tokener_new_ex(CAPS_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)(len - 1));
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len - 1) {
		*why = "version JSON does not parse (or has trailing bytes)";
		ret = -EINVAL;
	} else if (!json_object_is_type(root, json_type_object)) {
		*why = "version JSON top level is not an object";
		ret = -EINVAL;
	} else if (json_object_object_get_ex(root, "capabilities", &caps)) {
		ret = caps_read(caps, c, why);
	} /* else no capabilities: every default applies */
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

static int add_u64(json_object *obj, const char *key, uint64_t v)
{
	json_object *n = json_object_new_uint64(v);
	if (!n)
		return -ENOMEM;
	return json_object_object_add(obj, key, n) ? -ENOMEM : 0;
}

ssize_t uvfio_caps_format(const struct uvfio_caps *c, unsigned which,
			  char *buf, size_t cap)
{
	json_object *root = json_object_new_object();
	json_object *caps = json_object_new_object();
	ssize_t ret = -ENOMEM;
	int r = 0;

	if (!root || !caps)
		goto out;
	if (which & UVFIO_CAP_HAS_MAX_MSG_FDS)
		r |= add_u64(caps, "max_msg_fds", c->max_msg_fds);
	if (which & UVFIO_CAP_HAS_MAX_DATA_XFER)
		r |= add_u64(caps, "max_data_xfer_size", c->max_data_xfer_size);
	if (which & UVFIO_CAP_HAS_MAX_DMA_MAPS)
		r |= add_u64(caps, "max_dma_maps", c->max_dma_maps);
	if (which & UVFIO_CAP_HAS_PGSIZES)
		r |= add_u64(caps, "pgsizes", c->pgsizes);
	if (which & UVFIO_CAP_HAS_WRITE_MULTIPLE)
		r |= json_object_object_add(
			caps, "write_multiple",
			json_object_new_boolean(c->write_multiple));
	if (which & UVFIO_CAP_HAS_TWIN_SOCKET) {
		json_object *t = json_object_new_object();
		if (!t)
			goto out;
		r |= json_object_object_add(
			t, "supported", json_object_new_boolean(c->twin_socket));
		if (which & UVFIO_CAP_HAS_TWIN_FD_INDEX)
			r |= add_u64(t, "fd_index", c->twin_fd_index);
		r |= json_object_object_add(caps, "twin_socket", t);
	}
	if (which & UVFIO_CAP_HAS_MIGRATION) {
		json_object *m = json_object_new_object();
		if (!m)
			goto out;
		r |= add_u64(m, "pgsize", c->mig_pgsize);
		if (c->mig_max_bitmap_size)
			r |= add_u64(m, "max_bitmap_size", c->mig_max_bitmap_size);
		r |= json_object_object_add(caps, "migration", m);
	}
	r |= json_object_object_add(root, "capabilities", caps);
	caps = NULL; /* owned by root now */
	if (r)
		goto out;

	size_t n;
	const char *s = json_object_to_json_string_length(
		root, JSON_C_TO_STRING_PLAIN, &n);
	if (!s)
		goto out;
	if (n + 1 > cap) {
		ret = -ENOSPC;
		goto out;
	}
	memcpy(buf, s, n + 1);
	ret = (ssize_t)(n + 1);
out:
	json_object_put(caps);
	json_object_put(root);
	return ret;
}
