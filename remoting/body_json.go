package remoting

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Bodies are JSON written by fastjson 1.2.69, which Apache RocketMQ 4.9.4 uses. Encoding
// is hand-written so that the bytes are fastjson's: bean properties in alphabetical order,
// nulls omitted, non-string map keys bare (`{0:"addr"}`) or, for Map<MessageQueue, V>, a
// whole object (`{{"brokerName":..}:v}`), doubles as Java prints them, and maps iterated
// in the order the Java side's HashMap or TreeMap would. Decoding first rewrites what
// encoding/json refuses into standard JSON (normalizeJSON), then uses encoding/json:
// bodies are not on the hot path.

// BodyError says which body failed to decode and why.
type BodyError struct {
	Body string // the Java class, e.g. "TopicRouteData"
	Err  error
}

func (e *BodyError) Error() string { return "remoting: decoding " + e.Body + " body: " + e.Err.Error() }

func (e *BodyError) Unwrap() error { return e.Err }

// decodeBody reads the fastjson body data into v.
func decodeBody(name string, data []byte, v any) error {
	src, err := normalizeJSON(data)
	if err == nil {
		err = json.Unmarshal(src, v)
	}
	if err != nil {
		return &BodyError{Body: name, Err: err}
	}
	return nil
}

// jsonStyle is a set of fastjson serializer features that changes the bytes.
type jsonStyle uint8

const (
	// styleDefault is JSON.toJSONString(obj): what RemotingSerializable.encode writes.
	styleDefault jsonStyle = iota
	// styleStandard adds BrowserCompatible (non-string map keys quoted, non-ASCII and '/'
	// escaped, longs beyond 2^53 quoted) and MapSortField (maps in key order).
	styleStandard
)

// jsonWriter appends fastjson-shaped JSON. Separators are implied: a value or key after
// anything but an opening bracket or a colon gets a comma first.
type jsonWriter struct {
	b     []byte
	style jsonStyle
}

func (w *jsonWriter) sep() {
	if n := len(w.b); n > 0 {
		switch w.b[n-1] {
		case '{', '[', ':':
		default:
			w.b = append(w.b, ',')
		}
	}
}

func (w *jsonWriter) open(c byte) {
	w.sep()
	w.b = append(w.b, c)
}

func (w *jsonWriter) close(c byte) { w.b = append(w.b, c) }

func (w *jsonWriter) key(k string) {
	w.sep()
	w.b = appendFastjsonString(w.b, k, w.style)
	w.b = append(w.b, ':')
}

// longKey writes a Map<Long, V> key: bare by default, quoted in the standard style.
func (w *jsonWriter) longKey(k int64) {
	w.sep()
	if w.style == styleStandard {
		w.b = append(w.b, '"')
		w.b = strconv.AppendInt(w.b, k, 10)
		w.b = append(w.b, '"', ':')
		return
	}
	w.b = strconv.AppendInt(w.b, k, 10)
	w.b = append(w.b, ':')
}

func (w *jsonWriter) str(s string) {
	w.sep()
	w.b = appendFastjsonString(w.b, s, w.style)
}

func (w *jsonWriter) int(v int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, v, 10)
}

// long writes a Java long: in the standard style BrowserCompatible quotes one that a
// JavaScript number cannot hold exactly.
func (w *jsonWriter) long(v int64) {
	const maxSafe = 1<<53 - 1
	if w.style == styleStandard && (v > maxSafe || v < -maxSafe) {
		w.sep()
		w.b = append(w.b, '"')
		w.b = strconv.AppendInt(w.b, v, 10)
		w.b = append(w.b, '"')
		return
	}
	w.int(v)
}

func (w *jsonWriter) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jsonWriter) double(v float64) {
	w.sep()
	w.b = appendJavaDouble(w.b, v)
}

func (w *jsonWriter) strField(k, v string) { w.key(k); w.str(v) }

// optStrField writes a nullable String property: an empty Go string stands for null.
func (w *jsonWriter) optStrField(k, v string) {
	if v != "" {
		w.strField(k, v)
	}
}

func (w *jsonWriter) intField(k string, v int64)  { w.key(k); w.int(v) }
func (w *jsonWriter) longField(k string, v int64) { w.key(k); w.long(v) }
func (w *jsonWriter) boolField(k string, v bool)  { w.key(k); w.bool(v) }

// strings writes a List<String> or Set<String>; nil is written as [] because the Java
// side initialises these collections.
func (w *jsonWriter) strings(vs []string) {
	w.open('[')
	for _, v := range vs {
		w.str(v)
	}
	w.close(']')
}

// appendFastjsonString writes s as fastjson's SerializeWriter.writeStringWithDoubleQuote.
// Default: control characters as \u00XX (upper-case hex) except \b \t \n \f \r, '"' and
// '\\' escaped, U+007F..U+009F and U+2028/U+2029 as \uXXXX, everything else as UTF-8.
// Standard (BrowserCompatible): also '/' escaped and every UTF-16 unit from U+007F up as
// \uXXXX. Invalid UTF-8 becomes U+FFFD, as Java decoding the bytes would have made it.
func appendFastjsonString(dst []byte, s string, style jsonStyle) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			var esc byte // 0: as is; 'u': \u00XX; else backslash and esc
			switch {
			case c == '"' || c == '\\':
				esc = c
			case c == '/' && style == styleStandard:
				esc = c
			case c == '\b':
				esc = 'b'
			case c == '\t':
				esc = 't'
			case c == '\n':
				esc = 'n'
			case c == '\f':
				esc = 'f'
			case c == '\r':
				esc = 'r'
			case c < 0x20 || c == 0x7F:
				esc = 'u'
			}
			if esc == 0 {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			if esc == 'u' {
				dst = appendUnicodeEscape(dst, rune(c))
			} else {
				dst = append(dst, '\\', esc)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		invalid := r == utf8.RuneError && size == 1
		if style == styleDefault && !invalid && r >= 0xA0 && r != 0x2028 && r != 0x2029 {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case style == styleDefault && invalid:
			dst = append(dst, "\uFFFD"...)
		case r >= 0x10000:
			r -= 0x10000
			dst = appendUnicodeEscape(dst, 0xD800+r>>10)
			dst = appendUnicodeEscape(dst, 0xDC00+r&0x3FF)
		default: // U+FFFD for invalid bytes in the standard style
			dst = appendUnicodeEscape(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendUnicodeEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// appendJavaDouble writes v as fastjson does (RyuDouble, Double.toString's format): the
// shortest digits that read back as v, in plain notation with at least one fractional
// digit for 1e-3 <= |v| < 1e7 ("0.0", "12.5"), else as d.dddE±n ("1.0E7", "1.5E-4").
// NaN and the infinities are written as null.
func appendJavaDouble(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	if v == 0 {
		if math.Signbit(v) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], math.Abs(v), 'e', -1, 64) // d.ddde±XX
	mant, expText := e, []byte(nil)
	for i, c := range e {
		if c == 'e' {
			mant, expText = e[:i], e[i+1:]
			break
		}
	}
	exp, _ := strconv.Atoi(string(expText))
	var digits [24]byte
	nd := 0
	for _, c := range mant {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	d := digits[:nd]
	if v < 0 {
		dst = append(dst, '-')
	}
	if exp < -3 || exp >= 7 {
		dst = append(dst, d[0], '.')
		if len(d) > 1 {
			dst = append(dst, d[1:]...)
		} else {
			dst = append(dst, '0')
		}
		dst = append(dst, 'E')
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for i := -1; i > exp; i-- {
			dst = append(dst, '0')
		}
		return append(dst, d...)
	}
	for i := 0; i <= exp; i++ {
		if i < len(d) {
			dst = append(dst, d[i])
		} else {
			dst = append(dst, '0')
		}
	}
	dst = append(dst, '.')
	if len(d) > exp+1 {
		return append(dst, d[exp+1:]...)
	}
	return append(dst, '0')
}

// normalizeJSON rewrites what fastjson writes, and encoding/json refuses, into standard
// JSON: bare object keys (`{0:"a"}`, fastjson's non-string keys) are quoted, an object or
// array used as a key (fastjson's Map<MessageQueue, V>) becomes a string holding its JSON
// text, and single-quoted strings become double-quoted. Standard JSON is returned as is.
// The result still goes through encoding/json, which validates what this leaves alone.
func normalizeJSON(src []byte) ([]byte, error) {
	if json.Valid(src) {
		return src, nil
	}
	n := normalizer{src: src, out: make([]byte, 0, len(src)+len(src)/8)}
	n.skipSpace()
	if err := n.value(0); err != nil {
		return nil, err
	}
	n.skipSpace()
	if n.pos != len(n.src) {
		return nil, n.errorf("trailing data")
	}
	return n.out, nil
}

// maxBodyDepth bounds the nesting normalizeJSON follows; encoding/json's own limit is far
// higher, but no RocketMQ body nests deeper than a handful of levels.
const maxBodyDepth = 64

type normalizer struct {
	src []byte
	pos int
	out []byte
}

func (n *normalizer) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", n.pos, fmt.Sprintf(format, args...))
}

func (n *normalizer) skipSpace() {
	for n.pos < len(n.src) {
		switch n.src[n.pos] {
		case ' ', '\t', '\n', '\r':
			n.pos++
		default:
			return
		}
	}
}

func (n *normalizer) value(depth int) error {
	if depth > maxBodyDepth {
		return n.errorf("nested deeper than %d", maxBodyDepth)
	}
	if n.pos >= len(n.src) {
		return n.errorf("unexpected end")
	}
	switch c := n.src[n.pos]; c {
	case '{':
		return n.object(depth)
	case '[':
		return n.array(depth)
	case '"', '\'':
		return n.string()
	default: // a number or literal, copied for encoding/json to judge
		tok := n.token()
		if len(tok) == 0 {
			return n.errorf("unexpected %q", c)
		}
		n.out = append(n.out, tok...)
		return nil
	}
}

// token reads a run of the bytes that make up numbers, literals and fastjson's bare keys.
func (n *normalizer) token() []byte {
	start := n.pos
	for n.pos < len(n.src) {
		if c := n.src[n.pos]; !isBareKeyByte(c) && c != '.' && c != '+' {
			break
		}
		n.pos++
	}
	return n.src[start:n.pos]
}

func (n *normalizer) object(depth int) error {
	n.pos++ // '{'
	n.out = append(n.out, '{')
	n.skipSpace()
	if n.pos < len(n.src) && n.src[n.pos] == '}' {
		n.pos++
		n.out = append(n.out, '}')
		return nil
	}
	for {
		n.skipSpace()
		if n.pos >= len(n.src) {
			return n.errorf("unterminated object")
		}
		switch c := n.src[n.pos]; {
		case c == '"' || c == '\'':
			if err := n.string(); err != nil {
				return err
			}
		case c == '{' || c == '[':
			// A complex key: normalise it on its own, then write its text as a string.
			sub := normalizer{src: n.src, pos: n.pos}
			if err := sub.value(depth + 1); err != nil {
				return err
			}
			n.pos = sub.pos
			n.out = appendFastjsonString(n.out, string(sub.out), styleDefault)
		case isBareKeyByte(c):
			n.out = append(n.out, '"')
			n.out = append(n.out, n.token()...)
			n.out = append(n.out, '"')
		default:
			return n.errorf("expected a key, found %q", c)
		}
		n.skipSpace()
		if n.pos >= len(n.src) || n.src[n.pos] != ':' {
			return n.errorf("expected ':'")
		}
		n.pos++
		n.out = append(n.out, ':')
		n.skipSpace()
		if err := n.value(depth + 1); err != nil {
			return err
		}
		n.skipSpace()
		if n.pos >= len(n.src) {
			return n.errorf("unterminated object")
		}
		switch n.src[n.pos] {
		case ',':
			n.pos++
			n.out = append(n.out, ',')
		case '}':
			n.pos++
			n.out = append(n.out, '}')
			return nil
		default:
			return n.errorf("expected ',' or '}'")
		}
	}
}

func (n *normalizer) array(depth int) error {
	n.pos++ // '['
	n.out = append(n.out, '[')
	n.skipSpace()
	if n.pos < len(n.src) && n.src[n.pos] == ']' {
		n.pos++
		n.out = append(n.out, ']')
		return nil
	}
	for {
		n.skipSpace()
		if err := n.value(depth + 1); err != nil {
			return err
		}
		n.skipSpace()
		if n.pos >= len(n.src) {
			return n.errorf("unterminated array")
		}
		switch n.src[n.pos] {
		case ',':
			n.pos++
			n.out = append(n.out, ',')
		case ']':
			n.pos++
			n.out = append(n.out, ']')
			return nil
		default:
			return n.errorf("expected ',' or ']'")
		}
	}
}

// string copies a double-quoted string as is and rewrites a single-quoted one.
func (n *normalizer) string() error {
	quote := n.src[n.pos]
	start := n.pos
	n.pos++
	for n.pos < len(n.src) {
		c := n.src[n.pos]
		switch {
		case c == '\\':
			n.pos += 2
			continue
		case c == quote:
			n.pos++
			if quote == '"' {
				n.out = append(n.out, n.src[start:n.pos]...)
				return nil
			}
			return n.singleQuoted(n.src[start+1 : n.pos-1])
		}
		n.pos++
	}
	return n.errorf("unterminated string")
}

// singleQuoted writes the body of a single-quoted string double-quoted: an unescaped '"'
// gains a backslash and "\'" loses its.
func (n *normalizer) singleQuoted(s []byte) error {
	n.out = append(n.out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			n.out = append(n.out, '\\', '"')
		case c == '\\' && i+1 < len(s) && s[i+1] == '\'':
			n.out = append(n.out, '\'')
			i++
		case c == '\\' && i+1 < len(s):
			n.out = append(n.out, c, s[i+1])
			i++
		default:
			n.out = append(n.out, c)
		}
	}
	n.out = append(n.out, '"')
	return nil
}

// javaTable describes a Java hash map as the Java side creates and fills it, to iterate
// keys as it does: by bucket of the final table, ties (keys sharing a bucket, whose order
// is their insertion order, unknown here) broken by key.
type javaTable struct {
	initial    int  // the capacity argument of the constructor; 0 for the default
	concurrent bool // a ConcurrentHashMap: sized 1.5x the argument, resized at 3/4 full
	// putAll: a default ConcurrentHashMap filled by one putAll, whose tryPresize makes a
	// table for 1.5n+1 keys and then, the way the JDK's loop runs, doubles it once more.
	putAll bool
}

// size returns the table length once n keys are in.
func (t javaTable) size(n int) uint32 {
	tableSizeFor := func(c int) uint32 {
		s := uint32(1)
		for int(s) < c && s < 1<<30 {
			s <<= 1
		}
		return s
	}
	s := uint32(16)
	switch {
	case t.putAll:
		s = 2 * tableSizeFor(n+n>>1+1)
	case t.initial > 0 && t.concurrent:
		s = tableSizeFor(t.initial + t.initial>>1 + 1)
	case t.initial > 0:
		s = tableSizeFor(t.initial)
	}
	for s < 1<<30 && (n > int(s/4*3) || t.concurrent && n >= int(s/4*3)) {
		s <<= 1
	}
	return s
}

// sortedKeys returns the keys of a string-keyed map in the order t iterates them, or in
// key order when sorted (a TreeMap, or fastjson's MapSortField).
func sortedKeys[V any](m map[string]V, t javaTable, sorted bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if sorted {
		slices.SortFunc(keys, javaCompare)
		return keys
	}
	size := t.size(len(keys))
	slices.SortFunc(keys, func(a, b string) int {
		if ba, bb := javaBucket(a, size), javaBucket(b, size); ba != bb {
			return int(ba) - int(bb)
		}
		return javaCompare(a, b)
	})
	return keys
}

// javaCompare is Java's String.compareTo: by UTF-16 code unit, which differs from Go's
// byte order only when a supplementary character meets one from U+E000 to U+FFFF.
func javaCompare(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return int(utf16First(ra)) - int(utf16First(rb))
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func utf16First(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}
