package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting the scanner follows, so that a hostile body cannot exhaust
// the stack. A deeper body is ErrTooDeep: left as it is, it would be delivered with
// whatever it holds below that depth.
const maxDepth = 512

// ErrTooDeep is Redact's answer for a body nested deeper than maxDepth, which it cannot
// tell is free of the fields.
var ErrTooDeep = errors.New("JSON nested deeper than 512 levels: not redacted")

// bom is the UTF-8 byte order mark, which RFC 8259 lets a parser ignore before a JSON
// text, and Jackson's and fastjson's do: read as not JSON, such a body was delivered with
// its secrets.
var bom = []byte{0xEF, 0xBB, 0xBF}

// Redactor replaces the values of named JSON object fields. It scans the body once, by
// hand, without encoding/json: bodies are on the hot path and most have nothing to redact,
// in which case it neither copies nor allocates.
type Redactor struct {
	fields []string
	repl   []byte // the replacement, as a JSON string
}

// NewRedactor returns a Redactor of the fields, writing replacement (a string) in place of
// their values.
func NewRedactor(fields []string, replacement string) (*Redactor, error) {
	if len(fields) == 0 {
		return nil, errors.New(`no fields: want {"fields": ["password", ...]}`)
	}
	repl, err := json.Marshal(replacement) // JSON's quoting: Go's (strconv.Quote) writes \x01, \a
	if err != nil {
		return nil, err
	}
	return &Redactor{fields: slices.Clone(fields), repl: repl}, nil
}

// Redact appends to dst the body with the values of r's fields replaced and reports
// whether anything was. The body is a JSON text, or several separated by whitespace (JSON
// Lines, NDJSON: a batch of records in one message), each redacted. When nothing was (or
// body is not valid JSON), it returns dst unchanged and false; for a body nested too deep
// to scan, ErrTooDeep.
func (r *Redactor) Redact(dst, body []byte) ([]byte, bool, error) {
	s := scanner{r: r, src: body, dst: dst}
	start := 0
	if bytes.HasPrefix(body, bom) {
		start = len(bom) // kept in the output, as the blanks are
	}
	for i := skipSpace(body, start); ; {
		end, ok := s.value(i, 0)
		if s.tooDeep {
			return dst, false, ErrTooDeep
		}
		if !ok {
			return dst, false, nil
		}
		if i = skipSpace(body, end); i == len(body) {
			break
		}
		if i == end { // "1 2" is two texts, "12" one: texts are whitespace apart
			return dst, false, nil
		}
	}
	if !s.changed {
		return dst, false, nil
	}
	return append(s.dst, body[s.copied:]...), true, nil
}

type scanner struct {
	r       *Redactor
	src     []byte
	dst     []byte
	copied  int // src[:copied] is already in dst
	changed bool
	tooDeep bool   // the scan stopped at maxDepth
	key     []byte // an unescaped key, reused
}

// value scans the JSON value at i and returns the offset after it.
func (s *scanner) value(i, depth int) (int, bool) {
	if depth > maxDepth {
		s.tooDeep = true
		return i, false
	}
	if i >= len(s.src) {
		return i, false
	}
	switch c := s.src[i]; {
	case c == '{':
		return s.object(i+1, depth+1)
	case c == '[':
		return s.array(i+1, depth+1)
	case c == '"':
		end, _, ok := scanString(s.src, i)
		return end, ok
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(s.src, i)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if len(s.src)-i >= len(lit) && string(s.src[i:i+len(lit)]) == lit {
			return i + len(lit), true
		}
	}
	return i, false
}

func (s *scanner) object(i, depth int) (int, bool) {
	i = skipSpace(s.src, i)
	if i < len(s.src) && s.src[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(s.src) || s.src[i] != '"' {
			return i, false
		}
		keyEnd, escaped, ok := scanString(s.src, i)
		if !ok {
			return i, false
		}
		match := s.matches(s.src[i+1:keyEnd-1], escaped)
		i = skipSpace(s.src, keyEnd)
		if i >= len(s.src) || s.src[i] != ':' {
			return i, false
		}
		start := skipSpace(s.src, i+1)
		// A matched value is scanned (to find its end) but not redacted inside: the whole
		// of it is replaced, and replacements within it would be undone out of order.
		dstLen, copied, changed := len(s.dst), s.copied, s.changed
		end, ok := s.value(start, depth)
		if !ok {
			return end, false
		}
		if match {
			s.dst, s.copied, s.changed = s.dst[:dstLen], copied, changed
			// Replace the whole value, nested objects included: what is under a redacted
			// field is redacted.
			s.dst = append(append(s.dst, s.src[s.copied:start]...), s.r.repl...)
			s.copied = end
			s.changed = true
		}
		i = skipSpace(s.src, end)
		if i >= len(s.src) {
			return i, false
		}
		switch s.src[i] {
		case ',':
			i = skipSpace(s.src, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func (s *scanner) array(i, depth int) (int, bool) {
	i = skipSpace(s.src, i)
	if i < len(s.src) && s.src[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := s.value(i, depth)
		if !ok {
			return end, false
		}
		i = skipSpace(s.src, end)
		if i >= len(s.src) {
			return i, false
		}
		switch s.src[i] {
		case ',':
			i = skipSpace(s.src, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// matches reports whether a key (its raw bytes between the quotes) names a field.
func (s *scanner) matches(raw []byte, escaped bool) bool {
	if escaped {
		var ok bool
		if s.key, ok = unescape(s.key[:0], raw); !ok {
			return false
		}
		raw = s.key
	}
	for _, f := range s.r.fields {
		if string(raw) == f {
			return true
		}
	}
	return false
}

// scanString scans the string starting with the quote at i; it returns the offset after
// the closing quote and whether the string holds escapes.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, escaped, true
		case c == '\\':
			escaped = true
			j++
			if j >= len(b) {
				return j, escaped, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(b, j+1); !ok {
					return j, escaped, false
				}
				j += 4
			default:
				return j, escaped, false
			}
		case c < 0x20:
			return j, escaped, false
		}
	}
	return len(b), escaped, false
}

// scanNumber scans a number as JSON writes them: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// unescape appends the JSON string contents raw, escapes resolved, to dst.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			return dst, false
		}
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(raw, i+3); ok && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
