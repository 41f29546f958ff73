package gateway

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/message"
)

// jsonOf is what encoding/json writes for s, HTML characters left as they are.
func jsonOf(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestAppendJSONStringAsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \back\slash`, "new\nline\r\ttab", "\x00\x01\x1f\x7f",
		"ünïcode 日本語 🚀", "\u2028\u2029", "bad \xff\xfe utf-8", "truncated \xe6\x97", "<html> & co"} {
		if got, want := string(appendJSONString(nil, s)), jsonOf(t, s); got != want {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	}
	// Runs of eight plain bytes are copied a word at a time: every byte to escape, at
	// every position of a word, after and before such runs.
	for _, c := range []string{`"`, `\`, "\n", "\x00", "\x1f", "\x7f", "é", "\xff", "\u2028", " ", "~"} {
		for at := range 17 {
			s := strings.Repeat("abcdefgh", 3)
			s = s[:at] + c + s[at:]
			if got, want := string(appendJSONString(nil, s)), jsonOf(t, s); got != want {
				t.Errorf("%q: %s, encoding/json %s", s, got, want)
			}
		}
	}
}

// BenchmarkAppendJSONBody: a delivered message's 1 KiB text body as a JSON string.
func BenchmarkAppendJSONBody(b *testing.B) {
	body := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 23)[:1024]
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		buf = appendJSONBytes(buf[:0], body)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "日本", "abcdefgh\"abcdefgh\\abcdefgh\x01abcdefghé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendJSONString(nil, s)), jsonOf(t, s); got != want {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	})
}

func TestAppendMessage(t *testing.T) {
	text := func(s string) *string { return &s }
	newExt := func(body []byte, props map[string]string) *message.Ext {
		m := &message.Ext{QueueID: 3, QueueOffset: 42, ReconsumeTimes: 2, BornTimestamp: 1764000000000, StoreTimestamp: 1764000000001,
			BrokerName: "broker-a", StoreHost: netip.MustParseAddrPort("10.0.0.1:10911"), CommitLogOffset: 77}
		m.Topic, m.Body = "Orders", body
		for k, v := range props {
			m.Properties.Set(k, v)
		}
		return m
	}
	cases := []struct {
		name   string
		m      *message.Ext
		handle string
		want   messageJSON
	}{
		{"text, tags, keys, user properties, a handle",
			newExt([]byte("héllo \"world\"\n"), map[string]string{message.PropertyTags: "TagA", message.PropertyKeys: "k1 k2",
				message.PropertyUniqKey: "ID1", "color": "blue"}), "h-1",
			messageJSON{ReceiptHandle: "h-1", MessageID: "ID1", Topic: "Orders", Body: text("héllo \"world\"\n"), Tags: "TagA",
				Keys: []string{"k1", "k2"}, Properties: map[string]string{"color": "blue"},
				Queue: queueJSON{Topic: "Orders", Broker: "broker-a", QueueID: 3}, Offset: 42, ReconsumeTimes: 2,
				BornTimestamp: 1764000000000, StoreTimestamp: 1764000000001}},
		{"binary body in base64, the offset id without UNIQ_KEY", newExt([]byte{0, 0xff, 0xfe}, nil), "",
			messageJSON{MessageID: message.OffsetMsgID(netip.MustParseAddrPort("10.0.0.1:10911"), 77), Topic: "Orders",
				BodyBase64: text("AP/+"), Queue: queueJSON{Topic: "Orders", Broker: "broker-a", QueueID: 3}, Offset: 42,
				ReconsumeTimes: 2, BornTimestamp: 1764000000000, StoreTimestamp: 1764000000001}},
		// Keys are split at the KEYS separator, a space, as the broker's index splits them:
		// another Unicode space belongs to its key.
		{"keys holding other Unicode spaces", newExt([]byte("b"), map[string]string{message.PropertyKeys: "order\u00a01 k\u30002  k3",
			message.PropertyUniqKey: "ID3"}), "",
			messageJSON{MessageID: "ID3", Topic: "Orders", Body: text("b"), Keys: []string{"order\u00a01", "k\u30002", "k3"},
				Queue: queueJSON{Topic: "Orders", Broker: "broker-a", QueueID: 3}, Offset: 42, ReconsumeTimes: 2,
				BornTimestamp: 1764000000000, StoreTimestamp: 1764000000001}},
		{"an empty body is an empty string", newExt(nil, map[string]string{message.PropertyUniqKey: "ID2"}), "",
			messageJSON{MessageID: "ID2", Topic: "Orders", Body: text(""), Queue: queueJSON{Topic: "Orders", Broker: "broker-a", QueueID: 3},
				Offset: 42, ReconsumeTimes: 2, BornTimestamp: 1764000000000, StoreTimestamp: 1764000000001}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := appendMessage(nil, c.m, c.handle)
			var got messageJSON
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v\nfrom %s", got, c.want, b)
			}
		})
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	m := &message.Ext{QueueID: 3, QueueOffset: 42, BrokerName: "broker-a"}
	m.Topic, m.Body = "Orders", bytes.Repeat([]byte("m"), 1024)
	m.Properties.Set(message.PropertyUniqKey, "7F0000010001000000000000000000AB")
	m.Properties.Set(message.PropertyTags, "TagA")
	m.Properties.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendMessage(buf[:0], m, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	}
}
