package remoting

import (
	"errors"
	"math/bits"
	"strconv"
	"strings"
)

// ErrBadHeader matches every *HeaderError.
var ErrBadHeader = errors.New("remoting: bad header")

// HeaderError says which extFields entry of a typed header is missing or malformed.
// Header is the Java class name, so that the error reads like the broker's log line.
type HeaderError struct {
	Header string // e.g. "PullMessageRequestHeader"
	Field  string // the extFields key, e.g. "queueId"
	Reason string // "missing", or what is wrong with the value
}

func (e *HeaderError) Error() string {
	return "remoting: " + e.Header + "." + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrBadHeader) true for every HeaderError.
func (e *HeaderError) Is(target error) bool { return target == ErrBadHeader }

// Optional is a header number that Java may leave null. A null field is not written to
// extFields at all, and some receivers treat its absence differently from any value (a
// send-back without maxReconsumeTimes uses the group's configured maximum, for example).
type Optional[T any] struct {
	Value T
	Valid bool
}

// Some returns a present Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Value: v, Valid: true} }

// Get returns the value and whether it is present.
func (o Optional[T]) Get() (T, bool) { return o.Value, o.Valid }

// EmptyHeader is a header class without fields. Java still attaches an instance to the
// command, which makes its JSON header carry "extFields":{}; setting EmptyHeader as
// Command.Header does the same. The Java classes: UpdateConsumerOffsetResponseHeader (15),
// UnregisterClientResponseHeader (35), EndTransactionResponseHeader (37) and
// GetConsumerListByGroupResponseHeader (38).
type EmptyHeader struct{}

// EncodeFields writes nothing. The value receivers let Header: EmptyHeader{} go into a
// command without an allocation.
func (EmptyHeader) EncodeFields(*FieldWriter) {}

// DecodeFields accepts any extFields.
func (EmptyHeader) DecodeFields(ExtFields) error { return nil }

// fieldDecoder parses the values of one header's fields, keeping the first error. Numbers
// are parsed from the extFields substrings in place, so a successful decode allocates
// nothing.
type fieldDecoder struct {
	header string
	have   uint32 // bit i set: the i-th declared field was present
	err    error
}

func (d *fieldDecoder) fail(key, reason string) {
	if d.err == nil {
		d.err = &HeaderError{Header: d.header, Field: key, Reason: reason}
	}
}

func (d *fieldDecoder) int32(bit int, f *Field) int32 {
	d.have |= 1 << bit
	n, err := strconv.ParseInt(f.Value, 10, 32)
	if err != nil {
		d.fail(f.Key, strconv.Quote(f.Value)+" is not a 32-bit integer")
	}
	return int32(n)
}

func (d *fieldDecoder) int64(bit int, f *Field) int64 {
	n, err := strconv.ParseInt(f.Value, 10, 64)
	d.have |= 1 << bit
	if err != nil {
		d.fail(f.Key, strconv.Quote(f.Value)+" is not a 64-bit integer")
	}
	return n
}

func (d *fieldDecoder) optInt32(bit int, f *Field) Optional[int32] {
	return Optional[int32]{Value: d.int32(bit, f), Valid: true}
}

func (d *fieldDecoder) str(bit int, f *Field) string {
	d.have |= 1 << bit
	return f.Value
}

// bool reads a boolean as Java's Boolean.parseBoolean does: "true" in any case is true,
// anything else false, never an error.
func (d *fieldDecoder) bool(bit int, f *Field) bool {
	d.have |= 1 << bit
	return strings.EqualFold(f.Value, "true")
}

// finish returns the first malformed value, or else the first required field (in Java's
// declaration order) that was absent. keys lists the fields in declaration order, bit i
// naming keys[i]; required has the bits of the @CFNotNull ones.
func (d *fieldDecoder) finish(required uint32, keys []string) error {
	if d.err != nil {
		return d.err
	}
	if missing := required &^ d.have; missing != 0 {
		return &HeaderError{Header: d.header, Field: keys[bits.TrailingZeros32(missing)], Reason: "missing"}
	}
	return nil
}
