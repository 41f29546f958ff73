package gateway

// The receive and ack requests read in one pass, and the ack's answer written by hand, as
// the produce requests and answers are (produce_json.go, api_json.go): encoding/json was
// nearly half of an ack's own CPU in the gateway. What fastReceive and
// fastHandles decline encoding/json decodes as before, with its errors (FuzzFastReceive
// and FuzzFastHandles hold them to its result on everything they accept).

// The fields of a receive or an ack request, as bits of the set a request has given.
const (
	fieldMax = 1 << iota
	fieldWaitMs
	fieldInvisibleMs
	fieldReceiptHandles
	fieldHandlesDelayLevel
)

// fastReceive decodes a receive request's body b into req, or declines (false), leaving
// req to be reset and decoded by encoding/json.
func fastReceive(b []byte, req *receiveRequest) bool {
	return fastObject(b, func(r *jsonReader, name []byte) (int, bool) {
		var ok bool
		switch string(name) {
		case "max":
			req.Max, ok = r.wholeNumber()
			return fieldMax, ok
		case "wait_ms":
			req.WaitMs, ok = r.wholeNumber()
			return fieldWaitMs, ok
		case "invisible_ms":
			req.InvisibleMs, ok = r.wholeNumber()
			return fieldInvisibleMs, ok
		}
		return 0, false
	})
}

// fastHandles decodes an ack or nack request's body b into req (zero), or declines.
func fastHandles(b []byte, req *handlesRequest) bool {
	return fastObject(b, func(r *jsonReader, name []byte) (int, bool) {
		var ok bool
		switch string(name) {
		case "receipt_handles":
			req.ReceiptHandles, ok = r.texts()
			return fieldReceiptHandles, ok
		case "delay_level":
			req.DelayLevel, ok = r.wholeNumber()
			return fieldHandlesDelayLevel, ok
		}
		return 0, false
	})
}

// fastObject reads b, one object and nothing after it, giving each field's name (as
// written, without escapes) to field, which reads its value and tells which field it was;
// a field given twice declines, as does anything field does not know.
func fastObject(b []byte, field func(r *jsonReader, name []byte) (int, bool)) bool {
	r := jsonReader{b: b}
	if !r.next('{') {
		return false
	}
	if !r.next('}') {
		for seen := 0; ; {
			name, raw, ok := r.str()
			if !ok || !raw || !r.next(':') {
				return false
			}
			f, ok := field(&r, name)
			if !ok || seen&f != 0 {
				return false
			}
			seen |= f
			if r.next(',') {
				continue
			}
			if !r.next('}') {
				return false
			}
			break
		}
	}
	return r.end()
}

// appendHandleResults appends the answer to an ack or a nack:
// {"results": [{"receipt_handle": handles[i], "result": results[i]}, ...]}.
func appendHandleResults(b []byte, handles, results []string) []byte {
	b = append(b, `{"results":[`...)
	for i, h := range handles {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"receipt_handle":`...)
		b = appendJSONString(b, h)
		b = append(b, `,"result":`...)
		b = appendJSONString(b, results[i])
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
