/*
 * cenricher: the enricher send hook (plugins/enricher) written in C, without a language
 * runtime: what a plugin from C, Rust or Zig costs in the sandbox. It sets one property on
 * every message that lacks it (or on every message, with overwrite). Configuration:
 *
 *   {"name": "x-gateway", "value": "eu-1", "overwrite": false}
 *
 * Strings without escapes; names and values non-empty, without the property separators
 * 0x01 and 0x02; no other key. Built by internal/plugintest with the command sdk/c/mqgate.h gives.
 */
#include "mqgate.h"

/* The linker's end of static data: the input buffer starts there. */
extern uint8_t __heap_base;

static uint8_t *in;     /* the input buffer mqgate_buffer hands out */
static uint32_t in_cap; /* its size */
static uint8_t small[256]; /* init's and errors' output */

static uint8_t name_buf[256], value_buf[256];
static mqgate_str name, value;
static int overwrite;

static uint64_t memory_bytes(void) { return (uint64_t)__builtin_wasm_memory_size(0) << 16; }

/* ensure grows the memory to hold end bytes (in 64 bits: a wasm32 address cannot
 * overflow here); 0 when it cannot. */
static int ensure(uint64_t end) {
	uint64_t have = memory_bytes();
	if (end <= have)
		return 1;
	if (end > (uint64_t)1 << 32)
		return 0;
	uint32_t pages = (uint32_t)((end - have + 0xFFFF) >> 16);
	return __builtin_wasm_memory_grow(0, pages) != (size_t)-1;
}

static int64_t error_result(const char *msg) {
	uint32_t n = 0;
	while (msg[n] && n < sizeof small - 5)
		n++;
	small[0] = MQGATE_STATUS_ERROR;
	mqgate_put32(small + 1, n);
	for (uint32_t i = 0; i < n; i++)
		small[5 + i] = (uint8_t)msg[i];
	return mqgate_result(small, 5 + n);
}

MQGATE_EXPORT("mqgate_abi_version") int32_t abi_version(void) { return MQGATE_ABI_VERSION; }

MQGATE_EXPORT("mqgate_kind") int32_t kind(void) { return MQGATE_KIND_SEND; }

MQGATE_EXPORT("mqgate_buffer") int32_t buffer(int32_t size) {
	if (size < 0)
		return 0;
	if (!in)
		in = (uint8_t *)(((uintptr_t)&__heap_base + 15) & ~(uintptr_t)15);
	if ((uint32_t)size > in_cap) {
		if (!ensure((uint64_t)(uintptr_t)in + (uint32_t)size))
			return 0;
		in_cap = (uint32_t)size;
	}
	return (int32_t)(uintptr_t)in;
}

static int blank(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* find returns the offset just past the colon of key (quoted, then a colon: a string
 * equal to the key as a value is not it) in cfg, or -1. */
static int32_t find(mqgate_str cfg, const char *key) {
	uint32_t k = 0;
	while (key[k])
		k++;
	for (uint32_t i = 0; i + k + 2 <= cfg.n; i++) {
		if (cfg.p[i] != '"' || cfg.p[i + k + 1] != '"')
			continue;
		uint32_t j = 0;
		while (j < k && cfg.p[i + 1 + j] == (uint8_t)key[j])
			j++;
		if (j < k)
			continue;
		uint32_t at = i + k + 2;
		while (at < cfg.n && blank(cfg.p[at]))
			at++;
		if (at < cfg.n && cfg.p[at] == ':')
			return (int32_t)(at + 1);
	}
	return -1;
}

/* value_at skips the blanks before a value at at; returns the value's offset. */
static uint32_t value_at(mqgate_str cfg, uint32_t at) {
	while (at < cfg.n && blank(cfg.p[at]))
		at++;
	return at;
}

/* string_field copies the string of key into buf; a message on failure. */
static const char *string_field(mqgate_str cfg, const char *key, uint8_t *buf, uint32_t cap, mqgate_str *out) {
	int32_t k = find(cfg, key);
	if (k < 0)
		return "configuration: want {\"name\": \"...\", \"value\": \"...\"}";
	uint32_t at = value_at(cfg, (uint32_t)k);
	if (at >= cfg.n || cfg.p[at] != '"')
		return "configuration: name and value must be strings";
	uint32_t n = 0;
	for (at++; at < cfg.n && cfg.p[at] != '"'; at++) {
		uint8_t c = cfg.p[at];
		if (c == '\\')
			return "configuration: escapes are not supported";
		if (c == 0x01 || c == 0x02)
			return "configuration: names and values cannot hold 0x01 or 0x02";
		if (n == cap)
			return "configuration: a name or value over 255 bytes";
		buf[n++] = c;
	}
	if (at >= cfg.n)
		return "configuration: an unterminated string";
	if (n == 0)
		return "configuration: names and values must not be empty";
	out->p = buf;
	out->n = n;
	return 0;
}

static int word(mqgate_str cfg, uint32_t at, const char *w) {
	uint32_t n = 0;
	while (w[n])
		n++;
	if (cfg.n - at < n)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (cfg.p[at + i] != (uint8_t)w[i])
			return 0;
	return 1;
}

static char unknown[80]; /* the message naming an unknown key */

/* check_keys walks the configuration, one JSON object of the keys name, value and
 * overwrite, and refuses any other key, naming it, and an overwrite other than true or
 * false: read as absent, a misspelt "overwrite" was false without a word (the Go plugins
 * refuse such keys too, plugins/jsonconfig). Strings hold no escapes. */
static const char *check_keys(mqgate_str cfg) {
	const char *object = "configuration: want {\"name\": \"...\", \"value\": \"...\"}";
	uint32_t at = value_at(cfg, 0);
	if (at >= cfg.n || cfg.p[at] != '{')
		return object;
	at = value_at(cfg, at + 1);
	if (at < cfg.n && cfg.p[at] == '}')
		return value_at(cfg, at + 1) == cfg.n ? 0 : object;
	for (;;) {
		if (at >= cfg.n || cfg.p[at] != '"')
			return object;
		uint32_t key = at + 1, end = key;
		while (end < cfg.n && cfg.p[end] != '"' && cfg.p[end] != '\\')
			end++;
		if (end >= cfg.n)
			return "configuration: an unterminated string";
		if (cfg.p[end] == '\\')
			return "configuration: escapes are not supported";
		mqgate_str k = {cfg.p + key, end - key};
		mqgate_str names[] = {{(const uint8_t *)"name", 4}, {(const uint8_t *)"value", 5}, {(const uint8_t *)"overwrite", 9}};
		int known = -1;
		for (int i = 0; i < 3; i++)
			if (mqgate_equal(k, names[i]))
				known = i;
		if (known < 0) {
			const char *head = "configuration: unknown key \"";
			uint32_t n = 0;
			while (head[n]) {
				unknown[n] = head[n];
				n++;
			}
			for (uint32_t i = 0; i < k.n && n < sizeof unknown - 2; i++)
				unknown[n++] = (char)k.p[i];
			unknown[n++] = '"';
			unknown[n] = 0;
			return unknown;
		}
		at = value_at(cfg, end + 1);
		if (at >= cfg.n || cfg.p[at] != ':')
			return object;
		at = value_at(cfg, at + 1);
		if (known == 2) {
			if (word(cfg, at, "true"))
				at += 4;
			else if (word(cfg, at, "false"))
				at += 5;
			else
				return "configuration: overwrite must be true or false";
		} else if (at < cfg.n && cfg.p[at] == '"') {
			for (at++; at < cfg.n && cfg.p[at] != '"'; at++)
				if (cfg.p[at] == '\\')
					return "configuration: escapes are not supported";
			if (at >= cfg.n)
				return "configuration: an unterminated string";
			at++;
		} else {
			return "configuration: name and value must be strings";
		}
		at = value_at(cfg, at);
		if (at < cfg.n && cfg.p[at] == ',') {
			at = value_at(cfg, at + 1);
			continue;
		}
		if (at < cfg.n && cfg.p[at] == '}' && value_at(cfg, at + 1) == cfg.n)
			return 0;
		return object;
	}
}

MQGATE_EXPORT("mqgate_init") int64_t init(int32_t len) {
	if (len < 0 || (uint32_t)len > in_cap)
		return error_result("input length out of the buffer");
	mqgate_str cfg = {in, (uint32_t)len};
	const char *err = check_keys(cfg);
	if (!err)
		err = string_field(cfg, "name", name_buf, sizeof name_buf - 1, &name);
	if (!err)
		err = string_field(cfg, "value", value_buf, sizeof value_buf - 1, &value);
	if (!err && !mqgate_may_edit(name))
		err = "configuration: name is a system property; a hook may set user properties, KEYS and TAGS";
	if (err)
		return error_result(err);
	int32_t k = find(cfg, "overwrite");
	overwrite = k >= 0 && cfg.p[value_at(cfg, (uint32_t)k)] == 't'; /* check_keys: true or false */
	small[0] = MQGATE_STATUS_OK;
	mqgate_put32(small + 1, MQGATE_FLAG_HEADERS_ONLY);
	return mqgate_result(small, 5);
}

/* has tells whether the property table at table (count entries) gives name a non-empty
 * value; the last of a repeated name counts, so the search runs from the end. */
static int has(const uint8_t *in, uint32_t table, uint32_t count) {
	for (uint32_t j = count; j > 0; j--) {
		uint32_t e = table + 16 * (j - 1);
		if (mqgate_equal(mqgate_ref(in, e), name))
			return mqgate_u32(in + e + 12) != 0;
	}
	return 0;
}

MQGATE_EXPORT("mqgate_before_send") int64_t before_send(int32_t len) {
	if (len < MQGATE_SEND_HEADER || (uint32_t)len > in_cap)
		return error_result("before_send: input length out of the buffer");
	uint32_t n = mqgate_u32(in), stride = mqgate_u32(in + 4);
	if (stride < MQGATE_SEND_RECORD || (uint64_t)n * stride + MQGATE_SEND_HEADER > (uint32_t)len)
		return error_result("before_send: records do not fit the input");
	/* The output follows the input: one edit a message at most. */
	uint8_t *out = (uint8_t *)(((uintptr_t)in + in_cap + 15) & ~(uintptr_t)15);
	uint64_t edit = 4 + 1 + 4 + name.n + 4 + value.n;
	if (!ensure((uint64_t)(uintptr_t)out + 5 + n * edit))
		return error_result("before_send: out of memory");
	out[0] = MQGATE_STATUS_OK;
	uint8_t *p = out + 5;
	uint32_t edits = 0;
	const uint8_t *rec = in + MQGATE_SEND_HEADER;
	for (uint32_t i = 0; i < n; i++, rec += stride) {
		if (!overwrite && has(in, mqgate_u32(rec + MQGATE_SEND_PROPS), mqgate_u32(rec + MQGATE_SEND_PROPS + 4)))
			continue;
		mqgate_put32(p, i);
		p[4] = MQGATE_SET_PROPERTY;
		p = mqgate_put_str(mqgate_put_str(p + 5, name), value);
		edits++;
	}
	mqgate_put32(out + 1, edits);
	return mqgate_result(out, (uint32_t)(p - out));
}

MQGATE_EXPORT("mqgate_after_send") int64_t after_send(int32_t len) {
	(void)len;
	small[0] = MQGATE_STATUS_OK;
	return mqgate_result(small, 1);
}
