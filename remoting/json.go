package remoting

import (
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// appendJSONHeader writes c's header as fastjson writes a RemotingCommand: top-level keys
// in alphabetical order, null fields omitted, extFields as a string map.
func appendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	if c.Header != nil || len(c.Ext) > 0 || c.KeepEmptyExt {
		w := collect(c, JSON)
		dst = append(dst, `,"extFields":{`...)
		for i := range w.entries {
			e := &w.entries[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, e.key)
			dst = append(dst, ':')
			if e.isNum {
				dst = append(dst, '"')
				dst = append(dst, w.numText(e)...)
				dst = append(dst, '"')
			} else {
				dst = appendJSONString(dst, e.val)
			}
		}
		dst = append(dst, '}')
		release(w)
	}
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"language":"`...)
	dst = append(dst, c.Language.String()...)
	dst = append(dst, `","opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	if c.Remark != "" {
		dst = append(dst, `,"remark":`...)
		dst = appendJSONString(dst, c.Remark)
	}
	dst = append(dst, `,"serializeTypeCurrentRPC":"JSON","version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	return append(dst, '}')
}

const hexDigits = "0123456789ABCDEF"

// jsonEscape says how fastjson escapes an ASCII byte inside a double-quoted string:
// 0 as is, 'u' as \u00XX, anything else as a backslash and that character.
var jsonEscape = func() (t [128]byte) {
	for c := 0; c < 0x20; c++ {
		t[c] = 'u'
	}
	t['\b'], t['\t'], t['\n'], t['\f'], t['\r'] = 'b', 't', 'n', 'f', 'r'
	t['"'], t['\\'] = '"', '\\'
	t[0x7F] = 'u'
	return t
}()

// appendJSONString writes s quoted the way fastjson's SerializeWriter does: control
// characters as \u00XX with upper-case hex except the five short escapes, non-ASCII as
// UTF-8 except U+0080 to U+009F, '/' unescaped, U+2028 and U+2029 escaped. Invalid UTF-8 becomes U+FFFD, as Java
// decoding the bytes would have made it.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			esc := jsonEscape[c]
			if esc == 0 {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			if esc == 'u' {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			} else {
				dst = append(dst, '\\', esc)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		if r >= 0x80 && r <= 0x9F {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonHeaderDecoder parses a JSON header with a hand-written scanner: fastjson's output and
// rocketmq-client-go's (any key order, "remark":"", unknown keys skipped).
//
// src is a private copy of the header that the decoder owns. Escaped strings are unescaped
// in place (an escape sequence is never shorter than what it stands for) and every string
// returned is a view of src, so a whole header costs the one allocation of that copy. src
// is never written again once a string over it has been returned, which keeps the views
// immutable.
type jsonHeaderDecoder struct {
	src []byte
	pos int
}

// view returns src[start:end] as a string without copying; see jsonHeaderDecoder.
func (d *jsonHeaderDecoder) view(start, end int) string {
	if start == end {
		return ""
	}
	return unsafe.String(&d.src[start], end-start)
}

func (d *jsonHeaderDecoder) errorf(format string, args ...any) error {
	return &FrameError{Offset: d.pos, Reason: "JSON header: " + fmt.Sprintf(format, args...)}
}

func decodeJSONHeader(src []byte, c *Command) error {
	d := jsonHeaderDecoder{src: src}
	d.skipSpace()
	if !d.consume('{') {
		return d.errorf("expected '{'")
	}
	d.skipSpace()
	if d.consume('}') {
		return nil
	}
	for {
		d.skipSpace()
		key, err := d.key()
		if err != nil {
			return err
		}
		d.skipSpace()
		if !d.consume(':') {
			return d.errorf("expected ':' after %q", key)
		}
		d.skipSpace()
		switch key {
		case "code":
			v, err := d.int32Value(key)
			if err != nil {
				return err
			}
			c.Code = v
		case "version":
			v, err := d.int32Value(key)
			if err != nil {
				return err
			}
			c.Version = v
		case "opaque":
			v, err := d.int32Value(key)
			if err != nil {
				return err
			}
			c.Opaque = v
		case "flag":
			v, err := d.int32Value(key)
			if err != nil {
				return err
			}
			c.Flag = v
		case "language":
			if err := d.language(c); err != nil {
				return err
			}
		case "remark":
			if d.literal("null") {
				c.Remark = ""
				break
			}
			s, err := d.string()
			if err != nil {
				return err
			}
			c.Remark = s
		case "extFields":
			if d.literal("null") {
				break
			}
			if err := d.extFields(c); err != nil {
				return err
			}
		default:
			if err := d.skipValue(0); err != nil {
				return err
			}
		}
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			break
		}
		return d.errorf("expected ',' or '}'")
	}
	d.skipSpace()
	if d.pos != len(d.src) {
		return d.errorf("trailing data after header")
	}
	return nil
}

func (d *jsonHeaderDecoder) skipSpace() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\b':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonHeaderDecoder) consume(c byte) bool {
	if d.pos < len(d.src) && d.src[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *jsonHeaderDecoder) literal(lit string) bool {
	if len(d.src)-d.pos >= len(lit) && string(d.src[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// key reads an object key: a quoted string, or fastjson's unquoted form (digits, letters).
func (d *jsonHeaderDecoder) key() (string, error) {
	if d.pos < len(d.src) && (d.src[d.pos] == '"' || d.src[d.pos] == '\'') {
		return d.string()
	}
	start := d.pos
	for d.pos < len(d.src) && isBareKeyByte(d.src[d.pos]) {
		d.pos++
	}
	if d.pos == start {
		return "", d.errorf("expected a key")
	}
	return d.view(start, d.pos), nil
}

func isBareKeyByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' || c == '-'
}

// string reads a string in double (or fastjson's single) quotes.
func (d *jsonHeaderDecoder) string() (string, error) {
	if d.pos >= len(d.src) {
		return "", d.errorf("expected a string, found end of header")
	}
	quote := d.src[d.pos]
	if quote != '"' && quote != '\'' {
		return "", d.errorf("expected a string")
	}
	d.pos++
	start := d.pos
	for d.pos < len(d.src) {
		c := d.src[d.pos]
		if c == quote {
			s := d.view(start, d.pos)
			d.pos++
			return s, nil
		}
		if c == '\\' {
			return d.escapedString(start, quote)
		}
		d.pos++
	}
	return "", d.errorf("unterminated string")
}

// escapedString unescapes the rest of a string whose first backslash is at d.pos, writing
// at w behind the read position.
func (d *jsonHeaderDecoder) escapedString(start int, quote byte) (string, error) {
	w := d.pos
	for d.pos < len(d.src) {
		c := d.src[d.pos]
		if c == quote {
			d.pos++
			return d.view(start, w), nil
		}
		if c != '\\' {
			d.src[w] = c
			w++
			d.pos++
			continue
		}
		d.pos++
		if d.pos >= len(d.src) {
			break
		}
		e := d.src[d.pos]
		d.pos++
		switch e {
		case '"', '\\', '/', '\'':
			d.src[w] = e
		case 'b':
			d.src[w] = '\b'
		case 'f':
			d.src[w] = '\f'
		case 'n':
			d.src[w] = '\n'
		case 'r':
			d.src[w] = '\r'
		case 't':
			d.src[w] = '\t'
		case 'v':
			d.src[w] = '\v'
		case 'x':
			v, ok := d.hex(2)
			if !ok {
				return "", d.errorf("bad \\x escape")
			}
			// fastjson reads \xHH as the character U+00HH, not a raw byte.
			w += utf8.EncodeRune(d.src[w:], rune(v))
			continue
		case 'u':
			r, ok := d.hex(4)
			if !ok {
				return "", d.errorf("bad \\u escape")
			}
			if r >= 0xD800 && r < 0xDC00 && len(d.src)-d.pos >= 6 && d.src[d.pos] == '\\' && d.src[d.pos+1] == 'u' {
				save := d.pos
				d.pos += 2
				if lo, ok := d.hex(4); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				} else {
					d.pos = save
				}
			}
			// At most 4 bytes for the 6 or 12 just read.
			w += utf8.EncodeRune(d.src[w:], rune(r))
			continue
		default:
			return "", d.errorf("unknown escape \\%c", e)
		}
		w++
	}
	return "", d.errorf("unterminated string")
}

func (d *jsonHeaderDecoder) hex(n int) (uint32, bool) {
	if len(d.src)-d.pos < n {
		return 0, false
	}
	var v uint32
	for i := 0; i < n; i++ {
		c := d.src[d.pos+i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint32(c-'A'+10)
		default:
			return 0, false
		}
	}
	d.pos += n
	return v, true
}

// number returns the text of a JSON number.
func (d *jsonHeaderDecoder) number() string {
	start := d.pos
	for d.pos < len(d.src) {
		c := d.src[d.pos]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			d.pos++
			continue
		}
		break
	}
	return d.view(start, d.pos)
}

func (d *jsonHeaderDecoder) int32Value(key string) (int32, error) {
	var text string
	if d.pos < len(d.src) && d.src[d.pos] == '"' {
		s, err := d.string()
		if err != nil {
			return 0, err
		}
		text = s
	} else {
		text = d.number()
	}
	v, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		return 0, d.errorf("%s: %q is not a 32-bit integer", key, text)
	}
	return int32(v), nil
}

func (d *jsonHeaderDecoder) language(c *Command) error {
	if d.pos < len(d.src) && d.src[d.pos] != '"' {
		v, err := strconv.ParseUint(d.number(), 10, 8)
		if err != nil {
			return d.errorf("language: not a name or a byte")
		}
		c.Language = LanguageCode(v)
		return nil
	}
	s, err := d.string()
	if err != nil {
		return err
	}
	l, ok := ParseLanguage(s)
	if !ok {
		// Java would refuse the frame; a Go peer is better served by reading the rest.
		l = LanguageOther
	}
	c.Language = l
	return nil
}

func (d *jsonHeaderDecoder) extFields(c *Command) error {
	if !d.consume('{') {
		return d.errorf("extFields: expected an object")
	}
	c.KeepEmptyExt = true
	d.skipSpace()
	if d.consume('}') {
		return nil
	}
	for {
		d.skipSpace()
		k, err := d.key()
		if err != nil {
			return err
		}
		d.skipSpace()
		if !d.consume(':') {
			return d.errorf("extFields: expected ':' after %q", k)
		}
		d.skipSpace()
		var v string
		switch {
		case d.pos < len(d.src) && (d.src[d.pos] == '"' || d.src[d.pos] == '\''):
			if v, err = d.string(); err != nil {
				return err
			}
		case d.literal("null"):
			// A null value is no value: Java's HashMap.get would return null too.
			goto next
		case d.literal("true"):
			v = "true"
		case d.literal("false"):
			v = "false"
		default:
			v = d.number()
			if v == "" {
				return d.errorf("extFields: value of %q is not a string", k)
			}
		}
		c.Ext = append(c.Ext, Field{Key: k, Value: v})
	next:
		d.skipSpace()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return nil
		}
		return d.errorf("extFields: expected ',' or '}'")
	}
}

// maxJSONDepth bounds the nesting of unknown values skipped in a header.
const maxJSONDepth = 32

func (d *jsonHeaderDecoder) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return d.errorf("nested too deep")
	}
	if d.pos >= len(d.src) {
		return d.errorf("expected a value")
	}
	switch c := d.src[d.pos]; {
	case c == '"' || c == '\'':
		_, err := d.string()
		return err
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.pos++
		d.skipSpace()
		if d.consume(closing) {
			return nil
		}
		for {
			d.skipSpace()
			if closing == '}' {
				if _, err := d.key(); err != nil {
					return err
				}
				d.skipSpace()
				if !d.consume(':') {
					return d.errorf("expected ':'")
				}
				d.skipSpace()
			}
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.skipSpace()
			if d.consume(',') {
				continue
			}
			if d.consume(closing) {
				return nil
			}
			return d.errorf("expected ',' or '%c'", closing)
		}
	case d.literal("null"), d.literal("true"), d.literal("false"):
		return nil
	default:
		if d.number() == "" {
			return d.errorf("unexpected character %q", c)
		}
		return nil
	}
}
