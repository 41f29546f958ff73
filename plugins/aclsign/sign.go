package aclsign

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"hash"
	"sync"
	"unicode/utf8"
)

// The extFields keys of the ACL, as Java's SessionCredentials names them.
const (
	AccessKey     = "AccessKey"
	SecurityToken = "SecurityToken"
	Signature     = "Signature"
)

// Field is one extFields entry. Sign accepts a slice of any struct type with the same two
// string fields, such as remoting.Field, without copying it.
type Field struct {
	Key, Value string
}

// Sign returns the Signature of a request whose extFields are fields and whose body is
// body, under secretKey. fields must already hold AccessKey (and SecurityToken, if any),
// as Java's hook adds them before signing; a Signature entry among them is ignored, so a
// request can be signed again. When a key occurs more than once, the last occurrence is
// the one signed, as a receiver that reads extFields into a map keeps the last one.
//
// Sign keys an HMAC afresh on every call, as Java does; a hook signing many requests with
// one key uses a Signer and SignWith instead.
func Sign[F ~struct{ Key, Value string }](fields []F, body []byte, secretKey string) string {
	sig, _ := sign(fields, body, hmac.New(sha1.New, []byte(secretKey)), nil)
	return sig
}

// Signer signs with one secret key, reusing keyed HMAC states. Safe for concurrent use.
type Signer struct {
	key   []byte
	state sync.Pool // of *signState
}

// signState is what one signature needs besides the fields: a keyed HMAC and a buffer for
// the values it signs.
type signState struct {
	mac hash.Hash
	buf []byte
}

// NewSigner returns a Signer for secretKey.
func NewSigner(secretKey string) *Signer {
	return &Signer{key: []byte(secretKey)}
}

// SignWith is Sign with s's key. (A function rather than a method: methods cannot take
// type parameters.)
func SignWith[F ~struct{ Key, Value string }](s *Signer, fields []F, body []byte) string {
	st, _ := s.state.Get().(*signState)
	if st == nil {
		st = &signState{mac: hmac.New(sha1.New, s.key)}
	} else {
		st.mac.Reset() // back to the keyed state
	}
	var sig string
	sig, st.buf = sign(fields, body, st.mac, st.buf[:0])
	if cap(st.buf) <= 64<<10 {
		s.state.Put(st)
	}
	return sig
}

// AppendContent appends to buf what Sign signs: the values of fields in the order of
// their keys (Java's String order, the last of a repeated key, no Signature), then body.
// A plugin that computes the HMAC-SHA1 elsewhere (sdk.HMACSHA1, in the host) signs this
// and encodes the sum with AppendEncoded.
func AppendContent[F ~struct{ Key, Value string }](buf []byte, fields []F, body []byte) []byte {
	return append(appendValues(buf, fields), body...)
}

// AppendEncoded appends the Signature of an HMAC-SHA1 sum to dst: its standard base64.
func AppendEncoded(dst []byte, sum [sha1.Size]byte) []byte {
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// sign signs with mac, a freshly keyed HMAC, collecting the values in buf; it returns the
// signature and buf for reuse.
func sign[F ~struct{ Key, Value string }](fields []F, body []byte, mac hash.Hash, buf []byte) (string, []byte) {
	buf = appendValues(buf, fields)
	mac.Write(buf)
	mac.Write(body)
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(mac.Sum(sum[:0])), buf
}

// appendValues appends the values of fields in the order of their keys, the last of a
// repeated key, without Signature.
func appendValues[F ~struct{ Key, Value string }](buf []byte, fields []F) []byte {
	var small [32]int
	idx := small[:0]
	if len(fields) > len(small) {
		idx = make([]int, 0, len(fields))
	}
	for i := range fields {
		if Field(fields[i]).Key != Signature {
			idx = append(idx, i)
		}
	}
	// An insertion sort, stable so that equal keys keep their order and the last one can
	// be picked below: a request has a dozen or two fields, mostly in order already, and
	// in WebAssembly (the ACL plugin) a comparison through slices.SortStableFunc's
	// closure costs more than the comparison.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && javaCompare(Field(fields[idx[j-1]]).Key, Field(fields[idx[j]]).Key) > 0; j-- {
			idx[j-1], idx[j] = idx[j], idx[j-1]
		}
	}

	for j, i := range idx {
		f := Field(fields[i])
		if j+1 < len(idx) && Field(fields[idx[j+1]]).Key == f.Key {
			continue // a later occurrence replaces this one
		}
		buf = append(buf, f.Value...)
	}
	return buf
}

// javaCompare orders two strings as Java's String.compareTo: by UTF-16 code units. It
// differs from Go's byte order only for characters above U+FFFF against U+E000-U+FFFF.
func javaCompare(a, b string) int {
	for a != "" && b != "" {
		if a[0] < utf8.RuneSelf && b[0] < utf8.RuneSelf {
			if a[0] != b[0] {
				return int(a[0]) - int(b[0])
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, la := utf16Units(ra)
			ub, lb := utf16Units(rb)
			if ua != ub {
				return int(ua) - int(ub)
			}
			return int(la) - int(lb)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b) // only the sign matters: the shorter prefix comes first
}

// utf16Units returns r's first UTF-16 code unit and its second (0 when it has one only).
func utf16Units(r rune) (uint16, uint16) {
	if r < 0x10000 {
		return uint16(r), 0
	}
	r -= 0x10000
	return uint16(0xD800 + r>>10), uint16(0xDC00 + r&0x3FF)
}
