package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/message"
)

// produceRequest is one message to produce: POST /v1/topics/{topic}/messages, or an
// element of a batch. Body and BodyBase64 are pointers so that an empty body is told from
// an absent one.
type produceRequest struct {
	Body        *string           `json:"body"`
	BodyBase64  *string           `json:"body_base64"`
	Tags        string            `json:"tags"`
	Keys        []string          `json:"keys"`
	Properties  map[string]string `json:"properties"`
	DelayLevel  int               `json:"delay_level"`
	ShardingKey string            `json:"sharding_key"`

	// body is Body as fastProduce reads it, straight into the message's bytes (bodySet:
	// given, perhaps empty).
	body    []byte
	bodySet bool
}

// batchRequest is POST /v1/topics/{topic}/messages/batch: messages sent as one batch, to
// one queue, all or none.
type batchRequest struct {
	Messages []produceRequest `json:"messages"`
}

// sendResult is the answer for one message produced.
type sendResult struct {
	MessageID       string    `json:"message_id"`
	OffsetMessageID string    `json:"offset_message_id,omitempty"`
	Status          string    `json:"status"`
	Queue           queueJSON `json:"queue"`
	Offset          int64     `json:"offset"`
}

type queueJSON struct {
	Topic   string `json:"topic"`
	Broker  string `json:"broker"`
	QueueID int32  `json:"queue_id"`
}

type batchResult struct {
	Results []batchItem `json:"results"`
}

// batchItem is one message's outcome in a batch: its result, or, when a send hook
// rejected it while the others were sent (207), its error.
type batchItem struct {
	*sendResult
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

func toJSON(r instance.SendResult) sendResult {
	return sendResult{
		MessageID:       r.MsgID,
		OffsetMessageID: r.OffsetMsgID,
		Status:          r.Status.String(),
		Queue:           queueJSON{Topic: r.Queue.Topic, Broker: r.Queue.BrokerName, QueueID: r.Queue.QueueID},
		Offset:          r.QueueOffset,
	}
}

func (a *api) produce(w http.ResponseWriter, r *http.Request) {
	p := a.enter()
	if p == nil {
		a.fail(w, r, errNotServing)
		return
	}
	defer a.leave()
	var req produceRequest
	if err := decodeFast(a, w, r, &req, fastProduce); err != nil {
		a.fail(w, r, err)
		return
	}
	msg, err := req.message(r.PathValue("topic"), a.cfg.Producer.MaxMessageSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var res instance.SendResult
	if req.ShardingKey != "" {
		res, err = p.SendOrderly(r.Context(), msg, req.ShardingKey)
	} else {
		res, err = p.Send(r.Context(), msg)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	j := toJSON(res)
	writeSendResult(w, http.StatusOK, &j)
}

func (a *api) produceBatch(w http.ResponseWriter, r *http.Request) {
	p := a.enter()
	if p == nil {
		a.fail(w, r, errNotServing)
		return
	}
	defer a.leave()
	var req batchRequest
	if err := decodeFast(a, w, r, &req, fastBatch); err != nil {
		a.fail(w, r, err)
		return
	}
	switch n := len(req.Messages); {
	case n == 0:
		a.fail(w, r, badRequest("messages: the batch is empty"))
		return
	case n > a.cfg.HTTP.MaxBatch:
		a.fail(w, r, &requestError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
			msg: fmt.Sprintf("messages: %d messages, more than the %d a batch may hold", n, a.cfg.HTTP.MaxBatch)})
		return
	}
	topic := r.PathValue("topic")
	limit := a.cfg.Producer.MaxMessageSize
	msgs := make([]message.Message, len(req.Messages))
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.ShardingKey != "" {
			a.fail(w, r, badRequest("messages[%d].sharding_key: a batch goes to one queue; send ordered messages one by one", i))
			return
		}
		msg, err := m.message(topic, limit)
		if err != nil {
			a.fail(w, r, inBatch(i, err))
			return
		}
		msgs[i] = *msg
	}
	if err := message.ValidateBatch(msgs, limit); err != nil {
		a.fail(w, r, err)
		return
	}
	ptrs := make([]*message.Message, len(msgs))
	for i := range msgs {
		ptrs[i] = &msgs[i]
	}
	results, err := p.SendBatch(r.Context(), ptrs)
	var partial *producer.BatchError
	if err != nil && !(errors.As(err, &partial) && len(partial.Errs) == len(results)) {
		a.fail(w, r, err)
		return
	}
	status, sent := http.StatusOK, 0
	out := batchResult{Results: make([]batchItem, len(results))}
	sends := make([]sendResult, len(results)) // the items' answers, in one allocation
	for i, res := range results {
		if partial != nil && partial.Errs[i] != nil {
			_, code := classify(partial.Errs[i])
			out.Results[i] = batchItem{Error: partial.Errs[i].Error(), Code: code}
			status = http.StatusMultiStatus
			continue
		}
		sent++
		sends[i] = toJSON(res)
		out.Results[i] = batchItem{sendResult: &sends[i]}
	}
	if sent == 0 { // every message rejected: nothing was sent
		a.fail(w, r, err)
		return
	}
	writeBatchResult(w, status, &out)
}

// decode reads a request's JSON body into v strictly: one JSON value, no unknown field,
// at most Config.HTTP.MaxRequestBytes.
func (a *api) decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	defer b.free()
	return strictJSON(b.b, v)
}

// decodeFast is decode trying fast first (produce_json.go); what fast declines
// encoding/json decodes, into v zeroed again.
func decodeFast[T any](a *api, w http.ResponseWriter, r *http.Request, v *T, fast func([]byte, *T) bool) error {
	b, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	defer b.free()
	if fast(b.b, v) {
		return nil
	}
	var zero T
	*v = zero
	return strictJSON(b.b, v)
}

// strictJSON decodes body into v strictly, as decode.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// readBody reads r's body, at most Config.HTTP.MaxRequestBytes (else the
// *http.MaxBytesError, a 413; a body cut short is a 400). The caller frees it once
// nothing refers to its bytes.
func (a *api) readBody(w http.ResponseWriter, r *http.Request) (*byteBuf, error) {
	limit := a.cfg.HTTP.MaxRequestBytes
	body := http.MaxBytesReader(w, r.Body, limit)
	rb := getBuf()
	b := rb.b
	if n := r.ContentLength; n > 0 && n <= limit {
		b = slices.Grow(b, int(n)+1) // +1: the read that finds the end needs no growth
	}
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, 512)
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil { // over the limit (413), or a body cut short (400), as decoding says
			rb.b = b
			rb.free()
			return nil, jsonError(err)
		}
	}
	rb.b = b
	return rb, nil
}

// jsonError turns a decoding error into a message about the request.
func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		mbe    *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body ends before its JSON value does")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("the body is JSON %s: want an object", typ.Value)
		}
		return badRequest("field %q: JSON %s does not fit %s", typ.Field, typ.Value, withArticle(jsonTypeName(typ.Type.String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no type for it; the message is stable since Go 1.10.
		return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("%v", err)
}

func jsonTypeName(goType string) string {
	switch goType {
	case "string", "*string":
		return "string"
	case "int":
		return "integer"
	case "[]string":
		return "list of strings"
	case "map[string]string":
		return "object of strings"
	case "[]gateway.produceRequest":
		return "list of messages"
	}
	return goType
}

// withArticle is name after "a" or "an".
func withArticle(name string) string {
	if name != "" && strings.ContainsRune("aeiou", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// message builds the message a request describes and checks it as the producer will:
// everything wrong with it is a 400 (or 413) before anything is sent.
func (req *produceRequest) message(topic string, maxBodySize int) (*message.Message, error) {
	m := &message.Message{Topic: topic}
	// One allocation for the list: TAGS, KEYS, DELAY, the user's, and what the producer
	// adds (UNIQ_KEY, and with telemetry traceparent).
	m.Properties.Grow(5 + len(req.Properties))
	switch {
	case (req.Body != nil || req.bodySet) && req.BodyBase64 != nil:
		return nil, badRequest("body and body_base64 exclude each other: give one")
	case req.bodySet:
		m.Body = req.body
	case req.Body != nil:
		m.Body = []byte(*req.Body)
	case req.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.BodyBase64)
		if err != nil {
			return nil, badRequest("body_base64: not standard base64 (RFC 4648, padded): %v", err)
		}
		m.Body = b
	default:
		return nil, badRequest("body or body_base64 is required")
	}
	if req.Tags != "" {
		if err := message.ValidateTag(req.Tags); err != nil {
			return nil, err
		}
		m.SetTags(req.Tags)
	}
	for _, k := range req.Keys {
		if err := message.ValidateKey(k); err != nil {
			return nil, err
		}
	}
	m.SetKeys(req.Keys...)
	// Names in order, so that a message's properties do not depend on map iteration; a
	// loop of appends instead of slices.Sorted(maps.Keys), whose iterators allocate.
	names := make([]string, 0, 8)
	for name := range req.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := req.Properties[name]
		if err := message.ValidateUserProperty(name, v); err != nil {
			return nil, err
		}
		m.Properties.Set(name, v)
	}
	if req.DelayLevel < 0 {
		return nil, badRequest("delay_level: %d is negative (0 sends at once; 1..18 are 1s..2h on a default broker)", req.DelayLevel)
	}
	m.SetDelayLevel(req.DelayLevel)
	if err := m.Validate(maxBodySize); err != nil {
		return nil, err
	}
	return m, nil
}

// Error codes of the API's error answers, {"error": "...", "code": "..."}.
const (
	codeBadRequest    = "bad_request"     // 400: malformed JSON, unknown field, missing body
	codeInvalid       = "invalid_message" // 400: a topic, tag, key or property the rules refuse
	codeTooLarge      = "too_large"       // 413: the request, the body or the batch
	codeTopicNotFound = "topic_not_found" // 404
	codeForbidden     = "forbidden"       // 403: NO_PERMISSION (topic perms, ACL)
	codeRejected      = "rejected"        // 422: refused by a send hook
	codeBrokerBusy    = "broker_busy"     // 503 + Retry-After: the broker's flow control
	codeUnavailable   = "unavailable"     // 503: not started, shutting down, no broker reachable or writable
	codeTimeout       = "timeout"         // 504
	codeCanceled      = "canceled"        // the client went away
	codeInternal      = "internal"        // 500
	codeNotReady      = "not_ready"       // 503 from /readyz
)

const (
	retryAfterBusy     = "1" // seconds, the Retry-After of broker_busy
	statusClientClosed = 499 // nginx's; never read by a client that is gone
)

// requestError is a request the API refuses by itself.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, code: codeBadRequest, msg: fmt.Sprintf(format, args...)}
}

var errNotServing = &requestError{status: http.StatusServiceUnavailable, code: codeUnavailable, msg: "the gateway is not serving: not started, or shutting down"}

// inBatch names the batch element a request or validation error is about.
func inBatch(i int, err error) error {
	var re *requestError
	if errors.As(err, &re) {
		return &requestError{status: re.status, code: re.code, msg: fmt.Sprintf("messages[%d]: %s", i, re.msg)}
	}
	var ve *message.ValidationError
	if errors.As(err, &ve) {
		c := *ve
		c.Field = fmt.Sprintf("messages[%d].%s", i, c.Field)
		return &c
	}
	return err
}

// classify maps an error to the HTTP status and code the API answers with.
func classify(err error) (status int, code string) {
	var (
		re  *requestError
		mbe *http.MaxBytesError
		rej *instance.RejectedError
	)
	switch {
	case errors.As(err, &re):
		return re.status, re.code
	case errors.As(err, &mbe), errors.Is(err, message.ErrMessageTooLarge):
		return http.StatusRequestEntityTooLarge, codeTooLarge
	case errors.Is(err, message.ErrInvalid), errors.Is(err, instance.ErrMessageIllegal):
		return http.StatusBadRequest, codeInvalid
	case errors.Is(err, producer.ErrNoWritableQueue): // known, but taking nothing now
		return http.StatusServiceUnavailable, codeUnavailable
	case errors.Is(err, instance.ErrTopicNotExist), errors.Is(err, instance.ErrNoRoute):
		return http.StatusNotFound, codeTopicNotFound
	case errors.As(err, &rej):
		return http.StatusUnprocessableEntity, codeRejected
	case errors.Is(err, instance.ErrNoPermission):
		return http.StatusForbidden, codeForbidden
	case errors.Is(err, instance.ErrSystemBusy):
		return http.StatusServiceUnavailable, codeBrokerBusy
	case errors.Is(err, instance.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, codeTimeout
	case errors.Is(err, context.Canceled):
		return statusClientClosed, codeCanceled
	case errors.Is(err, instance.ErrServiceNotAvailable), errors.Is(err, instance.ErrConnClosed),
		errors.Is(err, instance.ErrClosed), errors.Is(err, instance.ErrNotRunning),
		errors.Is(err, instance.ErrNoNameServer), errors.Is(err, instance.ErrNameServerUnreachable):
		return http.StatusServiceUnavailable, codeUnavailable
	}
	return http.StatusInternalServerError, codeInternal
}

// fail answers a request with err.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	msg := err.Error()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		// JSON clients that escape non-ASCII text (Python's json.dumps by default) send up
		// to 6 bytes for each byte of a body: say how to send less.
		msg = fmt.Sprintf("the request body exceeds %d bytes ([http] max_request_bytes): send a large body as UTF-8 text "+
			"without \\u escapes, or as body_base64", mbe.Limit)
	}
	switch {
	case code == codeBrokerBusy:
		w.Header().Set("Retry-After", retryAfterBusy)
	case code == codeUnavailable && err == errNotServing:
		w.Header().Set("Connection", "close")
	}
	if status >= 500 && code != codeBrokerBusy {
		a.log.Warn("gateway: produce failed", "path", r.URL.Path, "status", status, "err", err)
	} else {
		a.log.Debug("gateway: produce refused", "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}
