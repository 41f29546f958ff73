package remoting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// DefaultMaxFrameLength is the largest frame accepted by default, as Java's
// com.rocketmq.remoting.frameMaxLength (16 MiB). Like Java's decoder, the limits count the
// whole frame, its 4-byte length prefix included: a frame Java would refuse (and close
// the connection over) is refused here before it is sent.
const DefaultMaxFrameLength = 16 << 20

// maxHeaderLength is what the 24 bits of the header length word can hold.
const maxHeaderLength = 1<<24 - 1

// ErrFrameTooLarge is returned for a frame whose declared length exceeds the maximum.
var ErrFrameTooLarge = errors.New("remoting: frame too large")

// ErrMalformedFrame matches every *FrameError.
var ErrMalformedFrame = errors.New("remoting: malformed frame")

// FrameError says what is wrong with a frame and where, counting from the first byte after
// the 4-byte total length.
type FrameError struct {
	Offset int
	Reason string
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("remoting: malformed frame at offset %d: %s", e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrMalformedFrame) true for every FrameError.
func (e *FrameError) Is(target error) bool { return target == ErrMalformedFrame }

// FrameLength validates the 4-byte total length that starts a frame and returns the number
// of bytes that follow it. max, the largest whole frame (prefix included), <= 0 means
// DefaultMaxFrameLength.
func FrameLength(prefix []byte, max int) (int, error) {
	if len(prefix) < 4 {
		return 0, &FrameError{Reason: "short length prefix"}
	}
	if max <= 0 {
		max = DefaultMaxFrameLength
	}
	n := int64(int32(binary.BigEndian.Uint32(prefix)))
	if n < 4 {
		return 0, &FrameError{Reason: fmt.Sprintf("total length %d is smaller than the header length word", n)}
	}
	if n+4 > int64(max) {
		return 0, fmt.Errorf("%w: %d bytes declared, %d with the length prefix, limit %d", ErrFrameTooLarge, n, n+4, max)
	}
	return int(n), nil
}

// Decode reads a command from payload, the bytes of a frame after its 4-byte total length.
// c is reset first and its Ext capacity reused. Body aliases payload; header strings are
// copied once, so they outlive payload.
func (c *Command) Decode(payload []byte) error {
	c.Reset()
	if len(payload) < 4 {
		return &FrameError{Reason: fmt.Sprintf("%d bytes cannot hold the header length word", len(payload))}
	}
	word := binary.BigEndian.Uint32(payload)
	ser := SerializeType(word >> 24)
	hlen := int(word & maxHeaderLength)
	if hlen > len(payload)-4 {
		return &FrameError{Reason: fmt.Sprintf("header length %d exceeds frame length %d", hlen, len(payload))}
	}
	var err error
	switch ser {
	case JSON:
		h := append([]byte(nil), payload[4:4+hlen]...)
		if !utf8.Valid(h) {
			// Java decodes the header bytes as UTF-8 with replacement before parsing.
			h = bytes.ToValidUTF8(h, []byte("\uFFFD"))
		}
		err = decodeJSONHeader(h, c)
	case RocketMQ:
		err = decodeBinaryHeader(string(payload[4:4+hlen]), c)
	default:
		return &FrameError{Reason: fmt.Sprintf("unknown serialize type %d", ser)}
	}
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) {
			fe.Offset += 4
		}
		return err
	}
	c.Serialize = ser
	if body := payload[4+hlen:]; len(body) > 0 {
		c.Body = body
	}
	return nil
}

// DecodeFrame decodes a whole frame, 4-byte total length included, refusing frames larger
// than max (DefaultMaxFrameLength when max <= 0) and frames whose length disagrees with
// len(frame).
func DecodeFrame(frame []byte, max int) (*Command, error) {
	n, err := FrameLength(frame, max)
	if err != nil {
		return nil, err
	}
	if n != len(frame)-4 {
		return nil, &FrameError{Reason: fmt.Sprintf("total length %d but %d bytes follow it", n, len(frame)-4)}
	}
	c := new(Command)
	if err := c.Decode(frame[4:]); err != nil {
		return nil, err
	}
	return c, nil
}

// AppendFrame appends c as a whole frame, total length first, to dst.
func (c *Command) AppendFrame(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var err error
	switch c.Serialize {
	case JSON:
		dst = appendJSONHeader(dst, c)
	case RocketMQ:
		dst, err = appendBinaryHeader(dst, c)
	default:
		err = fmt.Errorf("remoting: unknown serialize type %d", c.Serialize)
	}
	if err != nil {
		return dst[:start], err
	}
	hlen := len(dst) - start - 8
	if hlen > maxHeaderLength {
		return dst[:start], fmt.Errorf("remoting: header of %d bytes does not fit 24 bits", hlen)
	}
	dst = append(dst, c.Body...)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(c.Serialize)<<24|uint32(hlen))
	return dst, nil
}
