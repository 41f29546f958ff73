package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
)

// writeJSON answers v, marshalled by encoding/json, with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the API's own types always marshal
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, status, append(b, '\n'))
}

// jsonContentType is the Content-Type of every JSON answer, one slice for all: net/http
// only reads a header's values.
var jsonContentType = []string{"application/json"}

// writeBody answers b, a JSON value and its newline, with status.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if len(b) > countedByServer {
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// countedByServer: net/http holds the first 2 KiB a handler writes, and when the handler
// returns with its answer held whole, sends that answer's Content-Length itself, without
// allocating. A longer answer says its length here (two allocations), or it would go out
// chunked.
const countedByServer = 2048

// The produce answers, the API's most frequent, are written without encoding/json's
// reflection, into pooled buffers, as the consume answers are (appendJSONString): the
// same JSON values (TestProduceAnswersAsEncodingJSON, FuzzProduceAnswerJSON).

// writeSendResult answers r with status. (Calls of the append functions through a
// function value would move every answer to the heap.)
func writeSendResult(w http.ResponseWriter, status int, r *sendResult) {
	buf := getBuf()
	buf.b = appendSendResult(buf.b, r)
	writePooled(w, status, buf)
}

// writeBatchResult answers r with status.
func writeBatchResult(w http.ResponseWriter, status int, r *batchResult) {
	buf := getBuf()
	buf.b = appendBatchResult(buf.b, r)
	writePooled(w, status, buf)
}

// writePooled answers the JSON value in buf, and a newline, with status; then frees buf.
func writePooled(w http.ResponseWriter, status int, buf *byteBuf) {
	buf.b = append(buf.b, '\n')
	writeBody(w, status, buf.b)
	buf.free()
}

// byteBuf is a pooled buffer: a request's body, an answer.
type byteBuf struct{ b []byte }

var byteBufs = sync.Pool{New: func() any { return new(byteBuf) }}

// maxPooledBuf bounds the buffers kept for reuse: a rare large request does not pin its
// memory.
const maxPooledBuf = 256 << 10

// getBuf returns an empty buffer from the pool.
func getBuf() *byteBuf { return byteBufs.Get().(*byteBuf) }

// free returns b to the pool; nothing may refer to its bytes any more.
func (b *byteBuf) free() {
	if cap(b.b) > maxPooledBuf {
		b.b = nil
	}
	b.b = b.b[:0]
	byteBufs.Put(b)
}

func appendSendResult(b []byte, r *sendResult) []byte {
	b = append(b, '{')
	b = appendSendResultFields(b, r)
	return append(b, '}')
}

// appendSendResultFields appends r's fields, in sendResult's order.
func appendSendResultFields(b []byte, r *sendResult) []byte {
	b = append(b, `"message_id":`...)
	b = appendJSONString(b, r.MessageID)
	if r.OffsetMessageID != "" {
		b = append(b, `,"offset_message_id":`...)
		b = appendJSONString(b, r.OffsetMessageID)
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, r.Status)
	b = append(b, `,"queue":{"topic":`...)
	b = appendJSONString(b, r.Queue.Topic)
	b = append(b, `,"broker":`...)
	b = appendJSONString(b, r.Queue.Broker)
	b = append(b, `,"queue_id":`...)
	b = strconv.AppendInt(b, int64(r.Queue.QueueID), 10)
	b = append(b, `},"offset":`...)
	return strconv.AppendInt(b, r.Offset, 10)
}

func appendBatchResult(b []byte, r *batchResult) []byte {
	if r.Results == nil {
		return append(b, `{"results":null}`...)
	}
	b = append(b, `{"results":[`...)
	for i := range r.Results {
		if i > 0 {
			b = append(b, ',')
		}
		it := &r.Results[i]
		b = append(b, '{')
		comma := false
		if it.sendResult != nil {
			b, comma = appendSendResultFields(b, it.sendResult), true
		}
		if it.Error != "" {
			if comma {
				b = append(b, ',')
			}
			b, comma = appendJSONString(append(b, `"error":`...), it.Error), true
		}
		if it.Code != "" {
			if comma {
				b = append(b, ',')
			}
			b = appendJSONString(append(b, `"code":`...), it.Code)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
