package gateway

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// A produce request's JSON read in one pass. encoding/json reads a request three times
// over (its Decoder scans the value to find where it ends, unmarshalling scans it again,
// and a string is unquoted into a copy, which the message then copies once more): for a
// request with a 1 KiB body that was a fifth of the gateway's CPU per request.
//
// fastProduce and fastBatch read the shapes the API documents (its field names as
// written, strings, a whole number for delay_level) in one pass, and decline everything
// else: another spelling of a field name (encoding/json folds case), null, a field given
// twice, a \u escape of a surrogate, invalid UTF-8 (which encoding/json replaces), any
// syntax error, anything after the value. What they decline encoding/json decodes as
// before, and answers with its errors. FuzzFastProduce and FuzzFastBatch hold them to
// encoding/json's result on every input they accept.

// jsonReader reads JSON from b, from i on.
type jsonReader struct {
	b []byte
	i int
}

// ws skips whitespace.
func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it comes next.
func (r *jsonReader) next(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// str reads a string. Without escapes it is a view of b (raw true), valid as long as b
// is; with them a new slice.
func (r *jsonReader) str() (s []byte, raw, ok bool) {
	if !r.next('"') {
		return nil, false, false
	}
	start := r.i
	end := bytes.IndexByte(r.b[start:], '"')
	if end < 0 {
		return nil, false, false
	}
	end += start
	if bytes.IndexByte(r.b[start:end], '\\') >= 0 {
		return r.escaped(start, end)
	}
	s = r.b[start:end]
	if !plainASCII(s) && !validText(s) {
		return nil, false, false
	}
	r.i = end + 1
	return s, true, true
}

// escaped reads the rest of a string that holds escapes, from start (after its quote);
// the first quote after start is at quote, perhaps escaped.
func (r *jsonReader) escaped(start, quote int) ([]byte, bool, bool) {
	out := make([]byte, 0, quote-start)
	b := r.b
	for i := start; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"': // escapes decode to valid UTF-8: only the raw bytes may not be
			if !utf8.Valid(out) {
				return nil, false, false
			}
			r.i = i + 1
			return out, false, true
		case c < 0x20:
			return nil, false, false
		case c != '\\':
			out = append(out, c)
			continue
		}
		if i++; i >= len(b) {
			return nil, false, false
		}
		switch b[i] {
		case '"', '\\', '/':
			out = append(out, b[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(b) {
				return nil, false, false
			}
			var v rune
			for _, h := range b[i+1 : i+5] {
				switch {
				case '0' <= h && h <= '9':
					v = v<<4 | rune(h-'0')
				case 'a' <= h && h <= 'f':
					v = v<<4 | rune(h-'a'+10)
				case 'A' <= h && h <= 'F':
					v = v<<4 | rune(h-'A'+10)
				default:
					return nil, false, false
				}
			}
			if utf8.RuneLen(v) < 0 { // a surrogate: encoding/json pairs them or substitutes
				return nil, false, false
			}
			out = utf8.AppendRune(out, v)
			i += 4
		default:
			return nil, false, false
		}
	}
	return nil, false, false
}

// Eight bytes at a time, as a little-endian word: the tests of a byte in every lane.
const (
	lanes1    = 0x0101010101010101
	lanesHigh = 0x8080808080808080
)

// asciiWord reports whether w's bytes are all 0x20 to 0x7f: none a control character
// (which JSON refuses in a string) or a byte over 0x7f (UTF-8 to check). A byte under 0x20
// borrows into its top bit; one over 0x7f has it.
func asciiWord(w uint64) bool { return (w-0x20*lanes1|w)&lanesHigh == 0 }

// hasByteWord reports whether one of w's bytes is c.
func hasByteWord(w uint64, c byte) bool {
	x := w ^ uint64(c)*lanes1 // c's lanes are now 0
	return (x-lanes1)&^x&lanesHigh != 0
}

// plainJSONWord reports whether w's bytes go into a JSON string as they are.
func plainJSONWord(w uint64) bool {
	return asciiWord(w) && !hasByteWord(w, '"') && !hasByteWord(w, '\\')
}

// plainASCII reports whether s holds only bytes 0x20 to 0x7f (asciiWord).
func plainASCII(s []byte) bool {
	for len(s) >= 8 {
		if !asciiWord(binary.LittleEndian.Uint64(s)) {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// validText reports whether s is valid UTF-8 without control characters.
func validText(s []byte) bool {
	for _, c := range s {
		if c < 0x20 {
			return false
		}
	}
	return utf8.Valid(s)
}

// text reads a string as a Go string.
func (r *jsonReader) text() (string, bool) {
	s, _, ok := r.str()
	return string(s), ok
}

// wholeNumber reads a whole number of at most 18 digits: what an int field takes from
// encoding/json, bar the longest.
func (r *jsonReader) wholeNumber() (int, bool) {
	r.ws()
	neg := r.i < len(r.b) && r.b[r.i] == '-'
	if neg {
		r.i++
	}
	start, n := r.i, 0
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		n = n*10 + int(r.b[r.i]-'0')
		r.i++
	}
	digits := r.i - start
	if digits == 0 || digits > 18 || digits > 1 && r.b[start] == '0' {
		return 0, false
	}
	if r.i < len(r.b) {
		switch r.b[r.i] {
		case '.', 'e', 'E':
			return 0, false // a fraction or an exponent: encoding/json refuses it for an int
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// texts reads a list of strings.
func (r *jsonReader) texts() ([]string, bool) {
	if !r.next('[') {
		return nil, false
	}
	out := []string{}
	if r.next(']') {
		return out, true
	}
	for {
		s, ok := r.text()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if r.next(',') {
			continue
		}
		return out, r.next(']')
	}
}

// textMap reads an object of strings; a name given twice keeps its last value, as with
// encoding/json.
func (r *jsonReader) textMap() (map[string]string, bool) {
	if !r.next('{') {
		return nil, false
	}
	out := map[string]string{}
	if r.next('}') {
		return out, true
	}
	for {
		name, ok := r.text()
		if !ok || !r.next(':') {
			return nil, false
		}
		v, ok := r.text()
		if !ok {
			return nil, false
		}
		out[name] = v
		if r.next(',') {
			continue
		}
		return out, r.next('}')
	}
}

// The fields of a produce request, as bits of the set a request has given.
const (
	fieldBody = 1 << iota
	fieldBodyBase64
	fieldTags
	fieldKeys
	fieldProperties
	fieldDelayLevel
	fieldShardingKey
)

// message reads a produce request's object into req, which is zero.
func (r *jsonReader) message(req *produceRequest) bool {
	if !r.next('{') {
		return false
	}
	if r.next('}') {
		return true
	}
	seen := 0
	for {
		name, raw, ok := r.str()
		if !ok || !raw || !r.next(':') {
			return false
		}
		var f int
		switch string(name) {
		case "body":
			f = fieldBody
			var s []byte
			if s, raw, ok = r.str(); ok {
				req.body, req.bodySet = s, true
				if raw { // a view of the request: the message keeps a copy
					req.body = bytes.Clone(s)
				}
			}
		case "body_base64":
			f = fieldBodyBase64
			var s string
			if s, ok = r.text(); ok {
				req.BodyBase64 = &s
			}
		case "tags":
			f = fieldTags
			req.Tags, ok = r.text()
		case "keys":
			f = fieldKeys
			req.Keys, ok = r.texts()
		case "properties":
			f = fieldProperties
			req.Properties, ok = r.textMap()
		case "delay_level":
			f = fieldDelayLevel
			req.DelayLevel, ok = r.wholeNumber()
		case "sharding_key":
			f = fieldShardingKey
			req.ShardingKey, ok = r.text()
		default:
			return false
		}
		if !ok || seen&f != 0 {
			return false
		}
		seen |= f
		if r.next(',') {
			continue
		}
		return r.next('}')
	}
}

// end reports whether nothing but whitespace is left.
func (r *jsonReader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// fastProduce decodes a produce request's body b into req (zero), or declines (false),
// leaving req to be reset and decoded by encoding/json.
func fastProduce(b []byte, req *produceRequest) bool {
	r := jsonReader{b: b}
	return r.message(req) && r.end()
}

// fastBatch decodes a batch request's body b into req (zero), or declines.
func fastBatch(b []byte, req *batchRequest) bool {
	r := jsonReader{b: b}
	if !r.next('{') {
		return false
	}
	if name, raw, ok := r.str(); !ok || !raw || string(name) != "messages" || !r.next(':') || !r.next('[') {
		return false
	}
	req.Messages = []produceRequest{}
	if !r.next(']') {
		for {
			req.Messages = append(req.Messages, produceRequest{})
			if !r.message(&req.Messages[len(req.Messages)-1]) {
				return false
			}
			if !r.next(',') {
				break
			}
		}
		if !r.next(']') {
			return false
		}
	}
	return r.next('}') && r.end()
}
