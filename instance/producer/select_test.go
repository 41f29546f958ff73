package producer

import (
	"testing"

	"github.com/mqgate/mqgate/instance"
)

type hashed int32

func (h hashed) HashCode() int32 { return int32(h) }

func TestHashSelectorIsJavas(t *testing.T) {
	queues := func(n int) []instance.MessageQueue { return make([]instance.MessageQueue, n) }
	for _, tc := range []struct {
		name string
		arg  any
		n    int
		want int
	}{
		{`"abc" (hash 96354) of 4 queues`, "abc", 4, 2},
		{`"hello" of 3 queues`, "hello", 3, 1},
		{"the empty string goes to queue 0", "", 8, 0},
		{"a negative hash takes the absolute remainder", "order-1", 8, 6},
		{"Integer.MIN_VALUE hash does not overflow", "polygenelubricants", 3, 2},
		{"non-ASCII hashes over UTF-16", "日本", 8, 7},
		{"a character outside the BMP hashes as a surrogate pair", "😀x", 8, 5},
		{"int32 is Integer: its value", int32(-7), 4, 3},
		{"int is Long: -1 hashes to 0", -1, 4, 0},
		{"int64 is Long: high bits fold in", int64(1 << 40), 3, 1},
		{"a HashCoder's own hash", hashed(10), 4, 2},
		{"an unsupported type selects nothing", 1.5, 4, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HashSelector().Select(queues(tc.n), nil, tc.arg); got != tc.want {
				t.Errorf("Select(%v) of %d = %d, want %d", tc.arg, tc.n, got, tc.want)
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	for _, tc := range []struct {
		name, ns, res, wrapped string
	}{
		{"no namespace leaves the name", "", "T", "T"},
		{"a topic is prefixed", "ns1", "T", "ns1%T"},
		{"a name in the namespace already stays", "ns1", "ns1%T", "ns1%T"},
		{"a retry topic keeps its prefix in front", "ns1", "%RETRY%g", "%RETRY%ns1%g"},
		{"a DLQ topic keeps its prefix in front", "ns1", "%DLQ%g", "%DLQ%ns1%g"},
		{"a system topic is never wrapped", "ns1", "TBW102", "TBW102"},
		{"a system group is never wrapped", "ns1", "CID_RMQ_SYS_TRANS", "CID_RMQ_SYS_TRANS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := wrapNamespace(tc.ns, tc.res)
			if w != tc.wrapped {
				t.Fatalf("wrap(%q, %q) = %q, want %q", tc.ns, tc.res, w, tc.wrapped)
			}
			if u := unwrapNamespace(tc.ns, w); u != tc.res && !(tc.res == "ns1%T" && u == "T") {
				t.Fatalf("unwrap(%q, %q) = %q, want %q", tc.ns, w, u, tc.res)
			}
		})
	}
	if u := unwrapNamespace("ns1", "other%T"); u != "other%T" {
		t.Errorf("a name of another namespace was unwrapped to %q", u)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Run("defaults are Java's", func(t *testing.T) {
		c := Config{Group: "g"}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.SendTimeout != DefaultSendTimeout || c.retriesSync != 2 || c.retriesAsync != 2 || c.MaxMessageSize != 4<<20 ||
			c.CompressThreshold != 4096 || c.CompressLevel != 5 || c.DefaultTopicQueueNums != 4 || c.CreateTopicKey != "TBW102" ||
			c.Coalesce.MaxMessages != 32 || c.Coalesce.MaxBytes != 1<<20 || c.RetryAnotherBroker || c.LatencyFaultTolerance {
			t.Fatalf("defaults: %+v", c)
		}
	})
	t.Run("negative retries mean none", func(t *testing.T) {
		c := Config{Group: "g", RetriesWhenSyncFailed: -1, RetriesWhenAsyncFailed: -1}
		if err := c.Validate(); err != nil || c.retriesSync != 0 || c.retriesAsync != 0 {
			t.Fatalf("%v %+v", err, c)
		}
	})
	t.Run("coalescing bytes default to at most the message size", func(t *testing.T) {
		c := Config{Group: "g", MaxMessageSize: 1000}
		if err := c.Validate(); err != nil || c.Coalesce.MaxBytes != 1000 {
			t.Fatalf("%v %+v", err, c.Coalesce)
		}
	})
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"a group is required", Config{}},
		{"a group with a space is refused", Config{Group: "a b"}},
		{"DEFAULT_PRODUCER is reserved", Config{Group: "DEFAULT_PRODUCER"}},
		{"a namespace with % is refused", Config{Group: "g", Namespace: "a%b"}},
		{"a negative timeout is refused", Config{Group: "g", SendTimeout: -1}},
		{"a compression level of 10 is refused", Config{Group: "g", CompressLevel: 10}},
		{"a bad create topic key is refused", Config{Group: "g", CreateTopicKey: "a b"}},
		{"coalescing more bytes than a message is refused", Config{Group: "g", Coalesce: CoalesceConfig{MaxBytes: 5 << 20}}},
		{"a negative linger is refused", Config{Group: "g", Coalesce: CoalesceConfig{Linger: -1}}},
		{"a nil hook is refused", Config{Group: "g", Hooks: []instance.SendHook{nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil {
				t.Fatalf("accepted %+v", tc.cfg)
			}
		})
	}
}
