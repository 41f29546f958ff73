package abi

// Version is the ABI version this package describes; a module returns it from
// ExportABIVersion and the host refuses any other.
const Version = 1

// Kind is the plugin kind a module implements, returned by ExportKind.
type Kind uint32

const (
	KindAllocate Kind = 1 // queue allocation strategy
	KindSend     Kind = 2 // send hook: before and after a send
	KindConsume  Kind = 3 // consume hook: before and after a batch is consumed
	KindRPC      Kind = 4 // RPC hook: before a request, after its response
)

var kindNames = [...]string{"", "allocate", "send", "consume", "rpc"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "unknown kind " + itoa(int64(k))
}

// ParseKind returns the kind named s ("allocate", "send", "consume", "rpc").
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s && k != 0 {
			return Kind(k), true
		}
	}
	return 0, false
}

// Entry names one entry point of a module.
type Entry uint8

const (
	EntryInit Entry = iota
	EntryAllocate
	EntryBeforeSend
	EntryAfterSend
	EntryBeforeConsume
	EntryAfterConsume
	EntryBeforeRequest
	EntryAfterResponse
	numEntries
)

// Names of the exports. Every entry point has the signature (i32 len) -> i64: the input
// is the len bytes at the address ExportBuffer last returned, the result packs the
// address (high 32 bits) and length (low 32 bits) of the output.
const (
	ExportMemory     = "memory"
	ExportInitialize = "_initialize" // optional: Go's c-shared runtime initialization
	ExportABIVersion = "mqgate_abi_version"
	ExportKind       = "mqgate_kind"
	ExportBuffer     = "mqgate_buffer"
)

var entryExports = [numEntries]string{
	EntryInit:          "mqgate_init",
	EntryAllocate:      "mqgate_allocate",
	EntryBeforeSend:    "mqgate_before_send",
	EntryAfterSend:     "mqgate_after_send",
	EntryBeforeConsume: "mqgate_before_consume",
	EntryAfterConsume:  "mqgate_after_consume",
	EntryBeforeRequest: "mqgate_before_request",
	EntryAfterResponse: "mqgate_after_response",
}

// Export returns the export name of e.
func (e Entry) Export() string {
	if e < numEntries {
		return entryExports[e]
	}
	return ""
}

func (e Entry) String() string { return e.Export() }

// Entries returns the entry points a module of kind k must export, init first.
func (k Kind) Entries() []Entry {
	switch k {
	case KindAllocate:
		return []Entry{EntryInit, EntryAllocate}
	case KindSend:
		return []Entry{EntryInit, EntryBeforeSend, EntryAfterSend}
	case KindConsume:
		return []Entry{EntryInit, EntryBeforeConsume, EntryAfterConsume}
	case KindRPC:
		return []Entry{EntryInit, EntryBeforeRequest, EntryAfterResponse}
	}
	return nil
}

// Status is the first byte of every output.
const (
	StatusOK    = 0 // the rest is the entry point's result
	StatusError = 1 // the rest is a str: what went wrong
)

// Flags an init result carries.
const (
	// FlagAfter: the module wants the after entry point of its kind called. Without it the
	// host skips those calls.
	FlagAfter uint32 = 1 << 0
	// FlagHeadersOnly: the hook never reads bodies; the host does not copy them (their
	// refs have offset 0 and the body's length).
	FlagHeadersOnly uint32 = 1 << 1
)

// Op is an edit a hook asks the host to apply to one message or request.
type Op uint8

const (
	OpSetProperty    Op = 1 // str name, str value
	OpDeleteProperty Op = 2 // str name
	OpReject         Op = 3 // str reason (send hooks)
	OpSetBody        Op = 4 // str body (consume hooks)
)

// HookMayEdit reports whether an edit (OpSetProperty, OpDeleteProperty) may name the
// property name: a user's property, KEYS or TAGS. The other system properties, Java's
// MessageConst.STRING_HASH_SET, are the client's and the broker's own state: TRAN_MSG
// would make a send a transaction's half that nothing commits, a deleted UNIQ_KEY would
// take the send's message id, a consumed message's RECONSUME_TIME would change when it is
// given up. DELAY and WAIT, which an application sets, decide how a message is sent, which
// is settled before the hooks run: a coalesced batch ignores both, so a hook's delay would
// be dropped without a word. The host refuses an answer editing one as a bad result.
func HookMayEdit(name string) bool {
	switch name {
	case "DELAY", "WAIT", "TRACE_ON", "MSG_REGION", "RETRY_TOPIC", "REAL_TOPIC", "REAL_QID", "TRAN_MSG",
		"PGROUP", "MIN_OFFSET", "MAX_OFFSET", "BUYER_ID", "ORIGIN_MESSAGE_ID", "TRANSFER_FLAG",
		"CORRECTION_FLAG", "MQ2_FLAG", "RECONSUME_TIME", "UNIQ_KEY", "MAX_RECONSUME_TIMES",
		"CONSUME_START_TIME", "INSTANCE_ID", "CORRELATION_ID", "REPLY_TO_CLIENT", "TTL",
		"ARRIVE_TIME", "PUSH_REPLY_TIME", "CLUSTER", "MSG_TYPE", "INNER_MULTI_QUEUE_OFFSET":
		return false
	}
	return true
}

// Verdicts of a consume hook, one byte per message.
const (
	VerdictDeliver = 0
	VerdictSkip    = 1
	VerdictRetry   = 2
)

// Message models of a consume context.
const (
	ModelClustering   = 0
	ModelBroadcasting = 1
)

// Log levels of the log host function: the values of log/slog's levels.
const (
	LevelDebug = -4
	LevelInfo  = 0
	LevelWarn  = 4
	LevelError = 8
)

// Host functions, in module HostModule.
const (
	HostModule = "mqgate"
	// HostLog: (i32 level, i32 ptr, i32 len) -> (). Logs the UTF-8 message at ptr.
	HostLog = "log"
	// HostHMACSHA1: (i32 key_ptr, i32 key_len, i32 msg_ptr, i32 msg_len, i32 out_ptr) ->
	// i32. Writes the 20-byte HMAC-SHA1 of the message under the key at out_ptr and
	// returns 0, or returns -1 (writing nothing) when a range lies outside memory.
	// Granted to RPC hooks only: a module of another kind importing it is refused.
	HostHMACSHA1 = "hmac_sha1"
)

// WASIModule is the module name of the WASI preview 1 functions.
const WASIModule = "wasi_snapshot_preview1"

// WASIFunctions are the WASI functions a module may import: what Go's wasip1 runtime
// and its os package import, answered by the host in a sandbox (no preopened
// directories, no environment or arguments, stdin empty, stdout and stderr to the log).
// A module importing any other (path_open, sock_accept, ...) is refused.
var WASIFunctions = []string{
	"args_get", "args_sizes_get", "clock_res_get", "clock_time_get",
	"environ_get", "environ_sizes_get", "fd_close", "fd_fdstat_get",
	"fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get", "fd_read",
	"fd_write", "poll_oneoff", "proc_exit", "random_get", "sched_yield",
}

// PackResult packs an output address and length into an entry point's i64 result.
func PackResult(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// UnpackResult splits an entry point's i64 result.
func UnpackResult(r uint64) (ptr, n uint32) { return uint32(r >> 32), uint32(r) }

func itoa(v int64) string {
	var b [20]byte
	i := len(b)
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
