package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/mqgate/mqgate/message"
)

// The consume routes of the HTTP API:
//
//	POST /v1/consumers/{group}/receive  {"max": 32, "wait_ms": 20000, "invisible_ms": 30000}
//	     -> {"messages": [message...], "lease_deadline": "2026-...Z"}
//	POST /v1/consumers/{group}/ack      {"receipt_handles": ["..."]}
//	     -> {"results": [{"receipt_handle": "...", "result": "ok"|"expired"|"unknown"}]}
//	POST /v1/consumers/{group}/nack     {"receipt_handles": ["..."], "delay_level": 3}
//	GET  /v1/consumers/{group}          the consumer's status: queues with their lag,
//	                                    in flight, last error
//
// A message (receive, and the webhook's POST without receipt_handle):
//
//	{"receipt_handle": "...", "message_id": "...", "topic": "Orders",
//	 "body": "text" | "body_base64": "AAEC", "tags": "TagA", "keys": ["k1"],
//	 "properties": {"a": "b"}, "queue": {"topic": "Orders", "broker": "broker-a", "queue_id": 3},
//	 "offset": 42, "reconsume_times": 0, "born_timestamp": 1764000000000,
//	 "store_timestamp": 1764000000001}
//
// body is the body when it is valid UTF-8, body_base64 (standard, padded) otherwise;
// properties are the user properties (not the system ones: tags and keys have their
// own fields). A message delivered again after a failure comes from a %RETRY%group
// queue: queue names that queue's broker and id, with the message's original topic.

// messageJSON is a message delivered to an application: what appendMessage writes.
type messageJSON struct {
	ReceiptHandle  string            `json:"receipt_handle,omitempty"`
	MessageID      string            `json:"message_id"`
	Topic          string            `json:"topic"`
	Body           *string           `json:"body,omitempty"`
	BodyBase64     *string           `json:"body_base64,omitempty"`
	Tags           string            `json:"tags,omitempty"`
	Keys           []string          `json:"keys,omitempty"`
	Properties     map[string]string `json:"properties,omitempty"`
	Queue          queueJSON         `json:"queue"`
	Offset         int64             `json:"offset"`
	ReconsumeTimes int32             `json:"reconsume_times"`
	BornTimestamp  int64             `json:"born_timestamp"`
	StoreTimestamp int64             `json:"store_timestamp"`
}

// messageJSONSize is about the size of m's JSON object (appendMessage), to size a buffer
// for it at once: its body and room for the other fields. (A body with escapes or in
// base64 takes more: the buffer then grows.)
func messageJSONSize(m *message.Ext) int { return len(m.Body) + 512 }

// appendMessage appends the JSON object of m (messageJSON's), with handle when not empty.
// It is the delivery hot path: written by hand, without reflection, into a reused buffer.
func appendMessage(b []byte, m *message.Ext, handle string) []byte {
	b = append(b, '{')
	if handle != "" {
		b = append(b, `"receipt_handle":`...)
		b = appendJSONString(b, handle)
		b = append(b, ',')
	}
	b = append(b, `"message_id":`...)
	b = appendJSONString(b, m.MsgID())
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, m.Topic)
	if utf8.Valid(m.Body) {
		b = append(b, `,"body":`...)
		b = appendJSONBytes(b, m.Body)
	} else {
		b = append(b, `,"body_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, m.Body)
		b = append(b, '"')
	}
	if tags := m.Tags(); tags != "" {
		b = append(b, `,"tags":`...)
		b = appendJSONString(b, tags)
	}
	if keys := m.Keys(); keys != "" {
		b = append(b, `,"keys":[`...)
		first := true
		for k := range message.KeysSeq(keys) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, k)
		}
		b = append(b, ']')
	}
	n := 0
	for name, v := range m.Properties.All() {
		if message.IsSystemProperty(name) {
			continue
		}
		if n == 0 {
			b = append(b, `,"properties":{`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendJSONString(b, v)
	}
	if n > 0 {
		b = append(b, '}')
	}
	b = append(b, `,"queue":{"topic":`...)
	b = appendJSONString(b, m.Topic)
	b = append(b, `,"broker":`...)
	b = appendJSONString(b, m.BrokerName)
	b = append(b, `,"queue_id":`...)
	b = strconv.AppendInt(b, int64(m.QueueID), 10)
	b = append(b, `},"offset":`...)
	b = strconv.AppendInt(b, m.QueueOffset, 10)
	b = append(b, `,"reconsume_times":`...)
	b = strconv.AppendInt(b, int64(m.ReconsumeTimes), 10)
	b = append(b, `,"born_timestamp":`...)
	b = strconv.AppendInt(b, m.BornTimestamp, 10)
	b = append(b, `,"store_timestamp":`...)
	b = strconv.AppendInt(b, m.StoreTimestamp, 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: as encoding/json writes it, but for the
// HTML characters (<, >, &), which need no escape outside HTML.
func appendJSONString(b []byte, s string) []byte {
	return appendJSONBytes(b, unsafe.Slice(unsafe.StringData(s), len(s))) // read only
}

const hexDigits = "0123456789abcdef"

// appendJSONBytes appends s as a JSON string; invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendJSONBytes(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainJSONWord(binary.LittleEndian.Uint64(s[i:])) { // most text: eight bytes a step
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but not JavaScript
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(append(b, s[start:]...), '"')
	return b
}

type receiveRequest struct {
	Max         int `json:"max"`
	WaitMs      int `json:"wait_ms"`
	InvisibleMs int `json:"invisible_ms"`
}

type handlesRequest struct {
	ReceiptHandles []string `json:"receipt_handles"`
	DelayLevel     int      `json:"delay_level"`
}

const (
	codeConsumerNotFound = "consumer_not_found" // 404
	codeWrongDelivery    = "wrong_delivery"     // 409: receive on a webhook consumer
	defaultReceiveMax    = 32
	maxHandles           = 1024
)

// routeConsumers adds the consume routes to the API and, when it serves, the admin API.
func (g *Gateway) routeConsumers() {
	g.api.mux.HandleFunc("POST /v1/consumers/{group}/receive", g.receive)
	g.api.mux.HandleFunc("POST /v1/consumers/{group}/ack", func(w http.ResponseWriter, r *http.Request) { g.completeHandles(w, r, false) })
	g.api.mux.HandleFunc("POST /v1/consumers/{group}/nack", func(w http.ResponseWriter, r *http.Request) { g.completeHandles(w, r, true) })
	g.api.mux.HandleFunc("GET /v1/consumers/{group}", g.getConsumerAPI)
	if g.admin != nil {
		g.routeConsumerAdmin()
	}
}

// receiveConsumer returns the receive consumer the request names, or answers the error.
func (g *Gateway) receiveConsumer(w http.ResponseWriter, r *http.Request) *gwConsumer {
	group := r.PathValue("group")
	c := g.consumer(group)
	switch {
	case c == nil:
		g.api.fail(w, r, noConsumer(group))
		return nil
	case c.recv == nil:
		g.api.fail(w, r, &requestError{status: http.StatusConflict, code: codeWrongDelivery,
			msg: fmt.Sprintf("consumer %s delivers by %s, not to receives", group, c.cfg.Delivery)})
		return nil
	}
	return c
}

func noConsumer(group string) error {
	return &requestError{status: http.StatusNotFound, code: codeConsumerNotFound,
		msg: fmt.Sprintf("no consumer of group %q on this gateway (configure a [[consumer]], or PUT /v1/consumers/%s on the admin API)", group, group)}
}

func (g *Gateway) receive(w http.ResponseWriter, r *http.Request) {
	c := g.receiveConsumer(w, r)
	if c == nil {
		return
	}
	req := receiveRequest{Max: defaultReceiveMax}
	if r.ContentLength != 0 {
		if err := decodeFast(g.api, w, r, &req, fastReceive); err != nil {
			g.api.fail(w, r, err)
			return
		}
	}
	switch {
	case req.Max < 0 || req.Max > MaxReceiveBatch:
		g.api.fail(w, r, badRequest("max: %d is out of 1..%d", req.Max, MaxReceiveBatch))
		return
	// In milliseconds: a huge one converted to a Duration first would overflow to negative.
	case req.WaitMs < 0 || int64(req.WaitMs) > MaxReceiveWait.Milliseconds():
		g.api.fail(w, r, badRequest("wait_ms: %d is out of 0..%d", req.WaitMs, MaxReceiveWait.Milliseconds()))
		return
	case req.InvisibleMs < 0 || int64(req.InvisibleMs) > MaxReceiveInvisible.Milliseconds():
		g.api.fail(w, r, badRequest("invisible_ms: %d is out of 1..%d", req.InvisibleMs, MaxReceiveInvisible.Milliseconds()))
		return
	}
	if req.Max == 0 {
		req.Max = defaultReceiveMax
	}
	invisible := c.cfg.ReceiveInvisible
	if req.InvisibleMs > 0 {
		invisible = time.Duration(req.InvisibleMs) * time.Millisecond
	}
	if invisible > c.cfg.ConsumeTimeout {
		g.api.fail(w, r, badRequest("invisible_ms: %d exceeds the consumer's consume_timeout, %v", req.InvisibleMs, c.cfg.ConsumeTimeout))
		return
	}
	got, until, err := c.recv.receive(r.Context(), g.consumers.draining, req.Max,
		time.Duration(req.WaitMs)*time.Millisecond, invisible)
	switch {
	case errors.Is(err, errReceiverClosed):
		g.api.fail(w, r, noConsumer(c.cfg.Group))
		return
	case err != nil:
		g.api.fail(w, r, err)
		return
	}
	// Into a pooled buffer, grown once to about the answer's size: growing it message by
	// message allocated about twice the answer.
	size := 64
	for _, l := range got {
		size += messageJSONSize(l.d.Messages()[0])
	}
	buf := getBuf()
	b := append(slices.Grow(buf.b, size), `{"messages":[`...)
	for i, l := range got {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, l.d.Messages()[0], l.handle)
	}
	b = append(b, ']')
	if len(got) > 0 {
		b = append(b, `,"lease_deadline":"`...)
		b = until.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	buf.b = append(b, '}')
	writePooled(w, http.StatusOK, buf)
}

func (g *Gateway) completeHandles(w http.ResponseWriter, r *http.Request, nack bool) {
	c := g.receiveConsumer(w, r)
	if c == nil {
		return
	}
	var req handlesRequest
	if err := decodeFast(g.api, w, r, &req, fastHandles); err != nil {
		g.api.fail(w, r, err)
		return
	}
	switch {
	case len(req.ReceiptHandles) == 0:
		g.api.fail(w, r, badRequest("receipt_handles: none"))
		return
	case len(req.ReceiptHandles) > maxHandles:
		g.api.fail(w, r, badRequest("receipt_handles: %d, more than %d", len(req.ReceiptHandles), maxHandles))
		return
	case !nack && req.DelayLevel != 0:
		g.api.fail(w, r, badRequest("delay_level: only a nack has one"))
		return
	case req.DelayLevel < -1 || req.DelayLevel > maxDelayLevel: // (a huge one would wrap to negative: the DLQ)
		g.api.fail(w, r, badRequest("delay_level: %d: want -1 (dead letter queue), 0 (the broker's choice) or a level 1..%d", req.DelayLevel, maxDelayLevel))
		return
	}
	res := c.recv.complete(req.ReceiptHandles, nack, req.DelayLevel)
	buf := getBuf()
	buf.b = appendHandleResults(buf.b, req.ReceiptHandles, res)
	writePooled(w, http.StatusOK, buf)
}

func (g *Gateway) getConsumerAPI(w http.ResponseWriter, r *http.Request) {
	st, err := g.ConsumerStatus(r.PathValue("group"))
	if err != nil {
		g.api.fail(w, r, noConsumer(r.PathValue("group")))
		return
	}
	writeJSON(w, http.StatusOK, st)
}
