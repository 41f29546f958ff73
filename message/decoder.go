package message

import (
	"errors"
	"strings"
)

// DefaultMaxInflatedTotal bounds the bytes a Decoder inflates in one call, so that a body of
// many small compressed messages cannot claim DefaultMaxBodySize each (a 16 MiB frame holds
// thousands of them).
const DefaultMaxInflatedTotal = 64 << 20

// Decoder decodes stored-message and batch bodies. The zero value copies bodies out of the
// input, inflates compressed bodies of up to DefaultMaxBodySize bytes each and
// DefaultMaxInflatedTotal in all, and is ready to use. A Decoder keeps reusable state (a
// zlib reader, scratch space, the last topic) and must not be used concurrently.
type Decoder struct {
	// ZeroCopy makes uncompressed bodies alias the input instead of being copied: the input
	// must then outlive the messages and not be modified while they are in use. Inflated
	// bodies are always fresh memory.
	ZeroCopy bool
	// KeepCompressed leaves compressed bodies as stored, SysFlag unchanged: what a broker
	// that relays messages wants, and what re-encodes to the very bytes decoded.
	KeepCompressed bool
	// MaxBodySize bounds one inflated body; <= 0 means DefaultMaxBodySize.
	MaxBodySize int
	// MaxInflatedTotal bounds the inflated bytes of one call; <= 0 means
	// DefaultMaxInflatedTotal.
	MaxInflatedTotal int

	inflater inflater
	spans    []storedSpan
	topic    string // the last topic decoded: pulls return one topic, interned across calls
}

// DecodeStored decodes a whole body of stored messages (a PULL_MESSAGE response's body, a
// CHECK_TRANSACTION_STATE request's) with a zero Decoder: bodies copied and inflated.
func DecodeStored(body []byte) ([]Ext, error) {
	var d Decoder
	return d.DecodeStored(nil, body)
}

// DecodeBatch decodes a SEND_BATCH_MESSAGE body with a zero Decoder: bodies copied.
func DecodeBatch(body []byte) ([]Message, error) {
	var d Decoder
	return d.DecodeBatch(nil, body)
}

// DecodeStored decodes all the stored messages of body in one call into dst[:0], reusing its
// elements and their property lists, and returns the slice. On error it returns the
// messages before the faulty one with a *DecodeError; like Java, which stops at the first
// message it cannot decode, it decodes nothing after it.
//
// The strings of all messages of one call (properties; the topic is interned) share one
// allocation, and so do their bodies in copy mode: a message kept long after its siblings
// keeps their bytes alive too. Elements of dst are overwritten: Clone what must survive
// the next call.
func (d *Decoder) DecodeStored(dst []Ext, body []byte) ([]Ext, error) {
	dst = dst[:0]
	spans := d.spans[:0]
	var parseErr error
	strLen, copyLen := 0, 0
	for off := 0; off < len(body); {
		e := nextElem(&dst)
		// parseStored sets every field but these; assigning them rather than zeroing the
		// whole struct spares the write barriers of a reused element.
		e.Topic, e.BrokerName = "", ""
		var sp storedSpan
		n, err := parseStored(body, off, len(spans), e, &sp)
		if err != nil {
			e.Body = nil // keep no reference to the input in the unused slot
			dst = dst[:len(dst)-1]
			parseErr = err
			break
		}
		strLen += sp.propsEnd - sp.propsStart
		if !d.inflates(e.SysFlag, e.Body) {
			copyLen += len(e.Body)
		}
		spans = append(spans, sp)
		off += n
	}
	d.spans = spans
	arena := buildArena(body, spans, strLen)
	bodies := d.bodyBuffer(copyLen)
	inflated := 0
	for i := range dst {
		e, sp := &dst[i], &spans[i]
		e.Topic = d.intern(body[sp.topicStart:sp.topicEnd])
		e.Properties.Parse(arena[sp.arenaOff : sp.arenaOff+sp.propsEnd-sp.propsStart])
		switch {
		case d.inflates(e.SysFlag, e.Body):
			out, err := d.inflate(e, i, sp, inflated)
			if err != nil {
				clearFrom(dst, i)
				return dst[:i], err
			}
			inflated += len(out)
			e.Body = out
			e.SysFlag &^= sysFlagCompressionBits
		case !d.ZeroCopy && len(e.Body) > 0:
			e.Body, bodies = copyInto(bodies, e.Body)
		}
	}
	return dst, parseErr
}

// DecodeBatch decodes the messages of a SEND_BATCH_MESSAGE body into dst[:0], as
// DecodeStored does. Topic is left empty: it travels in the request header.
func (d *Decoder) DecodeBatch(dst []Message, body []byte) ([]Message, error) {
	dst = dst[:0]
	spans := d.spans[:0]
	var parseErr error
	strLen, copyLen := 0, 0
	for off := 0; off < len(body); {
		m := nextElem(&dst)
		m.Topic = "" // parseBatchMessage sets the other fields
		var sp storedSpan
		n, err := parseBatchMessage(body, off, len(spans), m, &sp)
		if err != nil {
			m.Body = nil
			dst = dst[:len(dst)-1]
			parseErr = err
			break
		}
		strLen += sp.propsEnd - sp.propsStart
		copyLen += len(m.Body)
		spans = append(spans, sp)
		off += n
	}
	d.spans = spans
	arena := buildArena(body, spans, strLen)
	bodies := d.bodyBuffer(copyLen)
	for i := range dst {
		m, sp := &dst[i], &spans[i]
		m.Properties.Parse(arena[sp.arenaOff : sp.arenaOff+sp.propsEnd-sp.propsStart])
		if !d.ZeroCopy && len(m.Body) > 0 {
			m.Body, bodies = copyInto(bodies, m.Body)
		}
	}
	return dst, parseErr
}

// nextElem extends s by one element, reusing the backing array (and what the element
// holds, for the caller to keep or clear) when there is room.
func nextElem[T any](s *[]T) *T {
	if len(*s) < cap(*s) {
		*s = (*s)[:len(*s)+1]
	} else {
		var zero T
		*s = append(*s, zero)
	}
	return &(*s)[len(*s)-1]
}

// clearFrom drops what dst[i:] point to, so that discarded messages pin no memory.
func clearFrom(dst []Ext, i int) {
	for j := i; j < len(dst); j++ {
		props := dst[j].Properties
		props.Reset()
		dst[j] = Ext{}
		dst[j].Properties.list = props.list
	}
}

// buildArena copies the properties of every message into one string and records where
// each starts: one allocation for all the strings of a call.
func buildArena(body []byte, spans []storedSpan, n int) string {
	if n == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(n)
	for i := range spans {
		sp := &spans[i]
		sp.arenaOff = b.Len()
		b.Write(body[sp.propsStart:sp.propsEnd])
	}
	return b.String()
}

func (d *Decoder) bodyBuffer(n int) []byte {
	if d.ZeroCopy || n == 0 {
		return nil
	}
	return make([]byte, 0, n)
}

// copyInto appends b to buf and returns the copy, capped so that appending to it cannot
// overwrite the next message's body.
func copyInto(buf, b []byte) (cp, rest []byte) {
	start := len(buf)
	buf = append(buf, b...)
	return buf[start:len(buf):len(buf)], buf
}

// intern returns the topic as a string, reusing the previous one when equal: the
// comparison does not allocate, so a pull of one topic allocates no topic string at all.
func (d *Decoder) intern(b []byte) string {
	if string(b) != d.topic {
		d.topic = string(b)
	}
	return d.topic
}

func (d *Decoder) inflates(sysFlag int32, body []byte) bool {
	return !d.KeepCompressed && sysFlag&SysFlagCompressed != 0 && len(body) > 0
}

// inflate inflates e's body within the per-body and per-call limits.
func (d *Decoder) inflate(e *Ext, index int, sp *storedSpan, inflatedSoFar int) ([]byte, error) {
	switch t := compressionType(e.SysFlag); t {
	case 0, 3: // zlib; 0 is what clients before 4.9.4 wrote, with no type bits
	case 1, 2:
		return nil, decodeErr(index, sp.off+storedSysFlagAt, ErrUnsupportedCompression, "sysFlag %#x names %s",
			e.SysFlag, [...]string{1: "LZ4", 2: "ZSTD"}[t])
	default:
		return nil, decodeErr(index, sp.off+storedSysFlagAt, ErrInvalidField, "sysFlag %#x names unknown compression type %d", e.SysFlag, t)
	}
	maxBody, maxTotal := d.MaxBodySize, d.MaxInflatedTotal
	if maxBody <= 0 {
		maxBody = DefaultMaxBodySize
	}
	if maxTotal <= 0 {
		maxTotal = DefaultMaxInflatedTotal
	}
	limit := min(maxBody, max(maxTotal-inflatedSoFar, 0))
	out, err := d.inflater.inflate(e.Body, limit)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, errInflateLimit) && limit < maxBody:
		return nil, decodeErr(index, sp.bodyOff, ErrMessageTooLarge, "bodies inflate to more than %d bytes in all", maxTotal)
	case errors.Is(err, errInflateLimit):
		return nil, decodeErr(index, sp.bodyOff, ErrMessageTooLarge, "body inflates to more than %d bytes", maxBody)
	default:
		return nil, decodeErr(index, sp.bodyOff, ErrCorruptBody, "%v", err)
	}
}
