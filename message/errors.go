package message

import (
	"errors"
	"fmt"
)

// Sentinels a caller can branch on with errors.Is.
var (
	// ErrMalformed matches every *DecodeError.
	ErrMalformed = errors.New("malformed message")
	// ErrTruncated: a length or field runs past the end of the input or of its message.
	ErrTruncated = errors.New("truncated")
	// ErrBadMagic: a stored message does not start with a known magic code.
	ErrBadMagic = errors.New("bad magic code")
	// ErrInvalidField: a field holds a value it cannot have: a negative length, sizes that
	// disagree, a port out of range, an unknown compression type.
	ErrInvalidField = errors.New("invalid field")
	// ErrCorruptBody: a compressed body is not a valid zlib stream.
	ErrCorruptBody = errors.New("corrupt compressed body")
	// ErrUnsupportedCompression: the body is compressed with LZ4 or ZSTD, which this
	// package does not inflate (Java 4.9.4 producers only write zlib).
	ErrUnsupportedCompression = errors.New("unsupported compression type")
	// ErrMessageTooLarge: a body, the properties or a whole message exceed a size limit.
	// Returned by decoders for inflated bodies over the limit, by encoders and by
	// validation; an HTTP layer answers 413.
	ErrMessageTooLarge = errors.New("message too large")
)

// DecodeError says what is wrong with an encoded message and where.
type DecodeError struct {
	Index  int    // position of the message within the body, from 0
	Offset int    // byte offset within the body where the problem was found
	Err    error  // one of the sentinels above
	Detail string // what was found, e.g. "body length 9000 exceeds the 120 bytes left"
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("message: message %d at offset %d: %v: %s", e.Index, e.Offset, e.Err, e.Detail)
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformed) true for every DecodeError.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

func decodeErr(index, offset int, err error, format string, args ...any) *DecodeError {
	return &DecodeError{Index: index, Offset: offset, Err: err, Detail: fmt.Sprintf(format, args...)}
}
