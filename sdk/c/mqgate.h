/*
 * mqgate.h: the plugin ABI (sdk/ABI.md, version 1) for modules written in C, freestanding:
 * no libc, no allocator. Build a plugin with
 *
 *   clang --target=wasm32 -O2 -ffreestanding -fno-builtin -nostdlib -I sdk/c \
 *     -Wl,--no-entry -o plugin.wasm plugin.c
 *
 * (clang 14 or later with wasm-ld: Debian's clang-14 and lld-14). Exports are marked with
 * MQGATE_EXPORT; the linker exports the memory as "memory". -fno-builtin keeps clang from
 * turning loops into calls of a libc's memcpy or memset, which the module does not have
 * (the link would fail); the helpers below copy and compare a word at a time instead.
 * plugins/cenricher is an example.
 */
#ifndef MQGATE_H
#define MQGATE_H

#include <stddef.h>
#include <stdint.h>

#define MQGATE_ABI_VERSION 1
#define MQGATE_EXPORT(name) __attribute__((export_name(name)))

/* Plugin kinds (mqgate_kind). */
enum { MQGATE_KIND_ALLOCATE = 1, MQGATE_KIND_SEND = 2, MQGATE_KIND_CONSUME = 3, MQGATE_KIND_RPC = 4 };

/* The first byte of every output. */
enum { MQGATE_STATUS_OK = 0, MQGATE_STATUS_ERROR = 1 };

/* Flags mqgate_init answers. */
enum { MQGATE_FLAG_AFTER = 1, MQGATE_FLAG_HEADERS_ONLY = 2 };

/* Edit ops (ABI.md §6). A property edit may name a user property, KEYS or TAGS; an answer
 * editing another system property (TRAN_MSG, UNIQ_KEY, DELAY, ...) is refused. */
enum { MQGATE_SET_PROPERTY = 1, MQGATE_DELETE_PROPERTY = 2, MQGATE_REJECT = 3, MQGATE_SET_BODY = 4 };

/* A before_send input: header, then records of record_size bytes (at least these). */
enum {
	MQGATE_SEND_HEADER = 8,
	MQGATE_SEND_RECORD = 56,
	MQGATE_SEND_GROUP = 0,
	MQGATE_SEND_TOPIC = 8,
	MQGATE_SEND_BROKER_NAME = 16,
	MQGATE_SEND_BROKER_ADDR = 24,
	MQGATE_SEND_BODY = 32,
	MQGATE_SEND_PROPS = 40, /* u32 table offset, u32 count; 16-byte entries: ref name, ref value */
	MQGATE_SEND_QUEUE_ID = 48,
	MQGATE_SEND_FLAG = 52,
};

/* A string of the input: bytes and length. */
typedef struct {
	const uint8_t *p;
	uint32_t n;
} mqgate_str;

/* Little-endian loads and stores (WebAssembly is little-endian and allows unaligned
 * access: each is one instruction). */
static inline uint32_t mqgate_u32(const uint8_t *b) {
	uint32_t v;
	__builtin_memcpy(&v, b, 4);
	return v;
}

static inline void mqgate_put32(uint8_t *b, uint32_t v) { __builtin_memcpy(b, &v, 4); }

/* mqgate_ref reads the ref at in + at: (u32 offset from the input's start, u32 length). */
static inline mqgate_str mqgate_ref(const uint8_t *in, uint32_t at) {
	mqgate_str s = {in + mqgate_u32(in + at), mqgate_u32(in + at + 4)};
	return s;
}

static inline uint64_t mqgate_u64(const uint8_t *b) {
	uint64_t v;
	__builtin_memcpy(&v, b, 8);
	return v;
}

static inline void mqgate_put64(uint8_t *b, uint64_t v) { __builtin_memcpy(b, &v, 8); }

/* mqgate_equal compares a and b 8 bytes at a time, the last 8 overlapping: names and
 * short values take two loads each, not a loop over their bytes (the host counts every
 * loop iteration against the call's budget). */
static inline int mqgate_equal(mqgate_str a, mqgate_str b) {
	if (a.n != b.n)
		return 0;
	uint32_t n = a.n;
	if (n < 8) {
		for (uint32_t i = 0; i < n; i++)
			if (a.p[i] != b.p[i])
				return 0;
		return 1;
	}
	if (n <= 16) /* no loop: most names */
		return mqgate_u64(a.p) == mqgate_u64(b.p) && mqgate_u64(a.p + n - 8) == mqgate_u64(b.p + n - 8);
	for (uint32_t i = 0; i + 8 < n; i += 8)
		if (mqgate_u64(a.p + i) != mqgate_u64(b.p + i))
			return 0;
	return mqgate_u64(a.p + n - 8) == mqgate_u64(b.p + n - 8);
}

/* mqgate_copy copies n bytes from src to dst (not overlapping), 8 at a time. */
static inline void mqgate_copy(uint8_t *dst, const uint8_t *src, uint32_t n) {
	if (n < 8) {
		for (uint32_t i = 0; i < n; i++)
			dst[i] = src[i];
		return;
	}
	if (n <= 16) { /* no loop: most names and values */
		uint64_t lo = mqgate_u64(src), hi = mqgate_u64(src + n - 8);
		mqgate_put64(dst, lo);
		mqgate_put64(dst + n - 8, hi);
		return;
	}
	for (uint32_t i = 0; i + 8 < n; i += 8)
		mqgate_put64(dst + i, mqgate_u64(src + i));
	mqgate_put64(dst + n - 8, mqgate_u64(src + n - 8));
}

/* mqgate_put_str writes a str (u32 length, bytes) at out and returns the end. */
static inline uint8_t *mqgate_put_str(uint8_t *out, mqgate_str s) {
	mqgate_put32(out, s.n);
	mqgate_copy(out + 4, s.p, s.n);
	return out + 4 + s.n;
}

/* mqgate_may_edit tells whether an edit may name the property s: a user property, KEYS or
 * TAGS. The host refuses an answer editing another system property (ABI.md §6); a plugin
 * taking names from its configuration can refuse them at init. */
static inline int mqgate_may_edit(mqgate_str s) {
	static const char *const system[] = {"DELAY", "WAIT", "TRACE_ON", "MSG_REGION", "RETRY_TOPIC", "REAL_TOPIC",
		"REAL_QID", "TRAN_MSG", "PGROUP", "MIN_OFFSET", "MAX_OFFSET", "BUYER_ID",
		"ORIGIN_MESSAGE_ID", "TRANSFER_FLAG", "CORRECTION_FLAG", "MQ2_FLAG", "RECONSUME_TIME",
		"UNIQ_KEY", "MAX_RECONSUME_TIMES", "CONSUME_START_TIME", "INSTANCE_ID", "CORRELATION_ID",
		"REPLY_TO_CLIENT", "TTL", "ARRIVE_TIME", "PUSH_REPLY_TIME", "CLUSTER", "MSG_TYPE",
		"INNER_MULTI_QUEUE_OFFSET"};
	for (uint32_t i = 0; i < sizeof system / sizeof system[0]; i++) {
		const char *n = system[i];
		uint32_t len = 0;
		while (n[len])
			len++;
		mqgate_str sys = {(const uint8_t *)n, len};
		if (mqgate_equal(s, sys))
			return 0;
	}
	return 1;
}

/* mqgate_result packs an entry point's answer: the output's address and length. */
static inline int64_t mqgate_result(const uint8_t *out, uint32_t n) {
	return (int64_t)(((uint64_t)(uintptr_t)out << 32) | n);
}

#endif
