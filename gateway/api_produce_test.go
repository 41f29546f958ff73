package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestProduceAnswersIDQueueAndOffsetAndStoresTheMessageIntact(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, testConfig(dc.NameServerAddr()))

	binary := []byte{0, 1, 2, 0xff, 0xfe, '\n', 0x80}
	tests := []struct {
		name string
		req  map[string]any
		want func(t *testing.T, m *message.Ext)
	}{
		{"text body with tags, keys and properties", map[string]any{
			"body": "hello, gateway", "tags": "TagA", "keys": []string{"k1", "k2"},
			"properties": map[string]string{"color": "blue", "size": "L"},
		}, func(t *testing.T, m *message.Ext) {
			if string(m.Body) != "hello, gateway" || m.Tags() != "TagA" || m.Keys() != "k1 k2" ||
				m.Properties.Get("color") != "blue" || m.Properties.Get("size") != "L" {
				t.Errorf("stored body %q tags %q keys %q properties %q", m.Body, m.Tags(), m.Keys(), m.Properties.Encode())
			}
		}},
		{"binary body in base64", map[string]any{"body_base64": base64.StdEncoding.EncodeToString(binary)},
			func(t *testing.T, m *message.Ext) {
				if string(m.Body) != string(binary) {
					t.Errorf("stored body %x, want %x", m.Body, binary)
				}
			}},
		{"delayed", map[string]any{"body": "later", "delay_level": 1}, func(t *testing.T, m *message.Ext) {
			// The broker keeps a delayed message in SCHEDULE_TOPIC_XXXX until it is due.
			if m.Properties.Get(message.PropertyDelayTimeLevel) != "1" {
				t.Errorf("stored properties %q, want DELAY=1", m.Properties.Encode())
			}
		}},
		{"ordered by sharding key", map[string]any{"body": "in order", "sharding_key": "order-42"}, func(t *testing.T, m *message.Ext) {
			if string(m.Body) != "in order" {
				t.Errorf("stored body %q", m.Body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, g, "/v1/topics/GatewayTopic/messages", tt.req)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			q, _ := r.body["queue"].(map[string]any)
			if r.str("message_id") == "" || r.str("status") != "SEND_OK" || q["topic"] != "GatewayTopic" ||
				q["broker"] != "broker-a" || q["queue_id"] == nil || r.body["offset"] == nil {
				t.Fatalf("answer %s", r.raw)
			}
			m := stored(t, g, dc.BrokerAddr(), r)
			if m.UniqKey() != r.str("message_id") {
				t.Errorf("stored UNIQ_KEY %q, answered message_id %q", m.UniqKey(), r.str("message_id"))
			}
			tt.want(t, m)
		})
	}

	t.Run("one sharding key, one queue, increasing offsets", func(t *testing.T) {
		var queue any
		var last float64 = -1
		for i := range 5 {
			r := post(t, g, "/v1/topics/GatewayOrdered/messages", map[string]any{"body": fmt.Sprint(i), "sharding_key": "k"})
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			q := r.body["queue"].(map[string]any)["queue_id"]
			if i > 0 && q != queue {
				t.Fatalf("message %d went to queue %v, the first to %v", i, q, queue)
			}
			queue = q
			off := r.body["offset"].(float64)
			if off <= last {
				t.Fatalf("offset %v after %v", off, last)
			}
			last = off
		}
	})
}

func TestProduceBatchAnswersEveryMessage(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, testConfig(dc.NameServerAddr()))
	var msgs []map[string]any
	for i := range 3 {
		msgs = append(msgs, map[string]any{"body": fmt.Sprintf("batch %d", i), "keys": []string{fmt.Sprintf("b%d", i)}, "tags": "TagB"})
	}
	msgs[2] = map[string]any{"body_base64": base64.StdEncoding.EncodeToString([]byte("batch 2")), "keys": []string{"b2"}, "tags": "TagB"}
	r := post(t, g, "/v1/topics/GatewayBatch/messages/batch", map[string]any{"messages": msgs})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	results, _ := r.body["results"].([]any)
	if len(results) != 3 {
		t.Fatalf("answer %s", r.raw)
	}
	var queue any
	for i, res := range results {
		m := res.(map[string]any)
		q := m["queue"].(map[string]any)
		if i == 0 {
			queue = q["queue_id"]
		} else if q["queue_id"] != queue || m["offset"].(float64) != results[0].(map[string]any)["offset"].(float64)+float64(i) {
			t.Errorf("result %d: %v; want queue %v and consecutive offsets", i, m, queue)
		}
		one := reply{body: m}
		st := stored(t, g, dc.BrokerAddr(), one)
		if string(st.Body) != fmt.Sprintf("batch %d", i) || st.Keys() != fmt.Sprintf("b%d", i) || st.Tags() != "TagB" ||
			st.UniqKey() != one.str("message_id") {
			t.Errorf("message %d stored as %q keys %q tags %q id %q", i, st.Body, st.Keys(), st.Tags(), st.UniqKey())
		}
	}
}

func TestProduceRefusesBadInput(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	cfg := testConfig(dc.NameServerAddr())
	cfg.Producer.MaxMessageSize = 1024
	cfg.HTTP.MaxRequestBytes = 8 << 10
	cfg.HTTP.MaxBatch = 4
	g := startGateway(t, cfg)

	const one, batch = "/v1/topics/GatewayTopic/messages", "/v1/topics/GatewayTopic/messages/batch"
	tests := []struct {
		name, path, body string
		status           int
		code, error      string // error: a substring of the message
	}{
		{"unknown field", one, `{"body": "x", "tag": "TagA"}`, 400, "bad_request", `unknown field "tag"`},
		{"unknown field in a batch element", batch, `{"messages": [{"body": "x", "bodyy": 1}]}`, 400, "bad_request", `unknown field "bodyy"`},
		{"malformed JSON", one, `{"body": "x",}`, 400, "bad_request", "malformed JSON at byte"},
		{"truncated JSON", one, `{"body": "x"`, 400, "bad_request", "ends before"},
		{"empty request", one, ``, 400, "bad_request", "the body is empty"},
		{"two JSON values", one, `{"body": "x"} {}`, 400, "bad_request", "more than one JSON value"},
		{"not an object", one, `["x"]`, 400, "bad_request", "want an object"},
		{"wrong field type", one, `{"body": "x", "keys": "k1"}`, 400, "bad_request", `field "keys": JSON string does not fit a list of strings`},
		{"a string for a number", one, `{"body": "x", "delay_level": "3"}`, 400, "bad_request", `field "delay_level": JSON string does not fit an integer`},
		{"invalid topic", "/v1/topics/bad.topic/messages", `{"body": "x"}`, 400, "invalid_message", `invalid topic: topic "bad.topic" contains characters`},
		{"system topic", "/v1/topics/SCHEDULE_TOPIC_XXXX/messages", `{"body": "x"}`, 400, "invalid_message", "forbidden"},
		{"body and body_base64", one, `{"body": "x", "body_base64": "eA=="}`, 400, "bad_request", "body and body_base64 exclude each other"},
		{"neither body nor body_base64", one, `{"tags": "T"}`, 400, "bad_request", "body or body_base64 is required"},
		{"bad base64", one, `{"body_base64": "not base64!"}`, 400, "bad_request", "body_base64: not standard base64"},
		{"empty body", one, `{"body": ""}`, 400, "invalid_message", "the body is empty"},
		{"key with a space", one, `{"body": "x", "keys": ["a b"]}`, 400, "invalid_message", "key separator"},
		{"tag with a bar", one, `{"body": "x", "tags": "A||B"}`, 400, "invalid_message", "contains '|'"},
		// Subscriptions trim their tags: "TagA " could never be matched.
		{"tag ending with a space", one, `{"body": "x", "tags": "TagA "}`, 400, "invalid_message", "starts or ends with a space"},
		{"tag starting with a space", batch, `{"messages": [{"body": "x", "tags": " TagA"}]}`, 400, "invalid_message", "messages[0].tags"},
		{"system property", one, `{"body": "x", "properties": {"KEYS": "k"}}`, 400, "invalid_message", "reserved for the system"},
		{"negative delay", one, `{"body": "x", "delay_level": -1}`, 400, "bad_request", "delay_level: -1 is negative"},
		{"empty batch", batch, `{"messages": []}`, 400, "bad_request", "the batch is empty"},
		{"sharding key in a batch", batch, `{"messages": [{"body": "x"}, {"body": "y", "sharding_key": "k"}]}`, 400, "bad_request", "messages[1].sharding_key"},
		{"delay in a batch", batch, `{"messages": [{"body": "x", "delay_level": 2}]}`, 400, "invalid_message", "messages[0].delay"},
		{"bad element in a batch", batch, `{"messages": [{"body": "x"}, {"body": "y", "body_base64": "eQ=="}]}`, 400, "bad_request", "messages[1]: body and body_base64"},
		{"invalid element in a batch", batch, `{"messages": [{"body": "x"}, {"body": "y", "keys": [" "]}]}`, 400, "invalid_message", "messages[1].keys"},
		{"body too large", one, `{"body": "` + strings.Repeat("x", 1025) + `"}`, 413, "too_large", "exceeds 1024"},
		{"base64 body too large", one, `{"body_base64": "` + base64.StdEncoding.EncodeToString(make([]byte, 1025)) + `"}`, 413, "too_large", "exceeds 1024"},
		{"batch too large", batch, `{"messages": [` + strings.Repeat(`{"body": "`+strings.Repeat("x", 400)+`"},`, 3) + `{"body": "y"}]}`, 413, "too_large", "batch body"},
		{"too many messages", batch, `{"messages": [` + strings.Repeat(`{"body": "x"},`, 4) + `{"body": "y"}]}`, 413, "too_large", "more than the 4"},
		{"request too large", one, `{"body": "` + strings.Repeat("x", 9<<10) + `"}`, 413, "too_large", "the request body exceeds 8192 bytes ([http] max_request_bytes): send a large body as UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, g, tt.path, tt.body)
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("error"), tt.error) {
				t.Errorf("answer %d %s\nwant %d %s with %q", r.status, r.raw, tt.status, tt.code, tt.error)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

// A body shorter than its Content-Length (the client stopped sending) is a 400 about the
// request, not a 500: the client half-closes its connection and still reads the answer.
func TestProduceOfABodyCutShortIs400(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, testConfig(dc.NameServerAddr()))
	conn, err := net.Dial("tcp", g.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST /v1/topics/GatewayTopic/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
		"Content-Length: 100\r\n\r\n{\"body\": \"x"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := readReply(t, resp)
	if r.status != http.StatusBadRequest || r.str("code") != "bad_request" || !strings.Contains(r.str("error"), "ends before") {
		t.Fatalf("answer %d %s", r.status, r.raw)
	}
}

func TestProduceToAnUnknownTopicIs404(t *testing.T) {
	off := false
	dc := startDevCluster(t, devcluster.Config{AutoCreateTopic: &off})
	g := startGateway(t, testConfig(dc.NameServerAddr()))
	for _, path := range []string{"/v1/topics/NoSuchTopic/messages", "/v1/topics/NoSuchTopic/messages/batch"} {
		body := `{"body": "x"}`
		if strings.HasSuffix(path, "batch") {
			body = `{"messages": [{"body": "x"}]}`
		}
		r := post(t, g, path, body)
		if r.status != http.StatusNotFound || r.str("code") != "topic_not_found" {
			t.Errorf("%s: answer %d %s", path, r.status, r.raw)
		}
	}
}

// TestProduceToAReadOnlyTopicIs503: a topic that exists but takes no message now (its
// queues read-only, as when an operator takes brokers out for maintenance) is no unknown
// topic: 503, saying why, not 404.
func TestProduceToAReadOnlyTopicIs503(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, testConfig(dc.NameServerAddr()))
	const topic = "ReadOnlyTopic"
	err := g.inst.CreateTopic(ctxFor(t, 5*time.Second), dc.BrokerAddr(), &remoting.CreateTopicRequest{Topic: topic,
		DefaultTopic: message.AutoCreateTopicKey, ReadQueueNums: 2, WriteQueueNums: 2, Perm: 4,
		TopicFilterType: "SINGLE_TAG", TopicSysFlag: remoting.Some[int32](0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/topics/" + topic + "/messages", "/v1/topics/" + topic + "/messages/batch"} {
		body := `{"body": "x"}`
		if strings.HasSuffix(path, "batch") {
			body = `{"messages": [{"body": "x"}]}`
		}
		r := post(t, g, path, body)
		if r.status != http.StatusServiceUnavailable || r.str("code") != codeUnavailable ||
			!strings.Contains(r.str("error"), "no writable queue") {
			t.Errorf("%s: answer %d %s", path, r.status, r.raw)
		}
	}
}

func TestProduceWhenTheBrokerIsBusyIs503WithRetryAfter(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, testConfig(dc.NameServerAddr()))
	// Route the topic first, so that the busy broker is met on the send itself.
	if r := post(t, g, "/v1/topics/BusyTopic/messages", `{"body": "before"}`); r.status != http.StatusOK {
		t.Fatalf("first send: %d %s", r.status, r.raw)
	}
	dc.Faults().SystemBusy(remoting.SendMessageV2, true)
	dc.Faults().SystemBusy(remoting.SendBatchMessage, true)
	for _, tc := range []struct{ path, body string }{
		{"/v1/topics/BusyTopic/messages", `{"body": "x"}`},
		{"/v1/topics/BusyTopic/messages/batch", `{"messages": [{"body": "x"}, {"body": "y"}]}`},
	} {
		r := post(t, g, tc.path, tc.body)
		if r.status != http.StatusServiceUnavailable || r.str("code") != "broker_busy" || r.header.Get("Retry-After") != "1" {
			t.Errorf("%s: answer %d %s, Retry-After %q", tc.path, r.status, r.raw, r.header.Get("Retry-After"))
		}
	}
	dc.Faults().Clear()
	if r := post(t, g, "/v1/topics/BusyTopic/messages", `{"body": "after"}`); r.status != http.StatusOK {
		t.Errorf("after the broker recovered: %d %s", r.status, r.raw)
	}
}

func TestErrorsMapToStatusCodes(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{&message.ValidationError{Field: "topic", Reason: "x"}, 400, codeInvalid},
		{fmt.Errorf("send: %w", &message.ValidationError{Field: "body", Reason: "x", Err: message.ErrMessageTooLarge}), 413, codeTooLarge},
		{fmt.Errorf("wrapped: %w", message.ErrMessageTooLarge), 413, codeTooLarge},
		{&http.MaxBytesError{Limit: 10}, 413, codeTooLarge},
		{&instance.BrokerError{Code: remoting.TopicNotExist}, 404, codeTopicNotFound},
		{fmt.Errorf("send: %w", producer.ErrNoWritableQueue), 503, codeUnavailable},
		{fmt.Errorf("producer: %w", &instance.BrokerError{Code: remoting.SystemBusy}), 503, codeBrokerBusy},
		{&instance.BrokerError{Code: remoting.SystemError, Remark: "[PC_SYNCHRONIZED] busy"}, 503, codeBrokerBusy},
		{&instance.BrokerError{Code: remoting.NoPermission}, 403, codeForbidden},
		{&instance.BrokerError{Code: remoting.MessageIllegal}, 400, codeInvalid},
		{&instance.BrokerError{Code: remoting.ServiceNotAvailable}, 503, codeUnavailable},
		{&instance.BrokerError{Code: remoting.SystemError, Remark: "No accessKey"}, 500, codeInternal},
		{fmt.Errorf("hooks: %w", &instance.RejectedError{Hook: "h", Reason: "no"}), 422, codeRejected},
		{fmt.Errorf("send: %w", instance.ErrTimeout), 504, codeTimeout},
		{context.DeadlineExceeded, 504, codeTimeout},
		{fmt.Errorf("dial: %w", instance.ErrConnClosed), 503, codeUnavailable},
		{errNotServing, 503, codeUnavailable},
		{errors.New("something else"), 500, codeInternal},
	} {
		if status, code := classify(tt.err); status != tt.status || code != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.err, status, code, tt.status, tt.code)
		}
	}
}

// rejectTag is a send hook refusing the messages with its tag.
type rejectTag string

func (h rejectTag) BeforeSend(_ context.Context, events []instance.SendEvent) error {
	for i := range events {
		if events[i].Message.Tags() == string(h) {
			events[i].Reject = "tag " + string(h) + " is refused"
		}
	}
	return nil
}

func (rejectTag) AfterSend(context.Context, []instance.SendEvent) {}

func TestProduceRejectedByASendHook(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	cfg := testConfig(dc.NameServerAddr())
	cfg.Producer.Hooks = []instance.SendHook{rejectTag("Refused")}
	g := startGateway(t, cfg)

	r := post(t, g, "/v1/topics/HookTopic/messages", `{"body": "x", "tags": "Refused"}`)
	if r.status != http.StatusUnprocessableEntity || r.str("code") != "rejected" || !strings.Contains(r.str("error"), "tag Refused is refused") {
		t.Errorf("rejected message: %d %s", r.status, r.raw)
	}

	// Some of a batch rejected: the others are sent, and each has its outcome.
	r = post(t, g, "/v1/topics/HookTopic/messages/batch", `{"messages": [{"body": "a"}, {"body": "b", "tags": "Refused"}, {"body": "c"}]}`)
	results, _ := r.body["results"].([]any)
	if r.status != http.StatusMultiStatus || len(results) != 3 {
		t.Fatalf("partly rejected batch: %d %s", r.status, r.raw)
	}
	for i, want := range []string{"", "rejected", ""} {
		item := reply{body: results[i].(map[string]any)}
		if item.str("code") != want || (want == "") != (item.str("message_id") != "") {
			t.Errorf("result %d: %v", i, item.body)
		}
	}

	r = post(t, g, "/v1/topics/HookTopic/messages/batch", `{"messages": [{"body": "a", "tags": "Refused"}, {"body": "b", "tags": "Refused"}]}`)
	if r.status != http.StatusUnprocessableEntity || r.str("code") != "rejected" {
		t.Errorf("wholly rejected batch: %d %s", r.status, r.raw)
	}
}
