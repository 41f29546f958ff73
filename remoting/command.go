package remoting

import "fmt"

// SerializeType names the header serialization of a frame.
type SerializeType uint8

const (
	// JSON is fastjson's serialization, the Java client's default.
	JSON SerializeType = 0
	// RocketMQ is the compact binary serialization ("ROCKETMQ" in Java).
	RocketMQ SerializeType = 1
)

func (t SerializeType) String() string {
	switch t {
	case JSON:
		return "JSON"
	case RocketMQ:
		return "ROCKETMQ"
	}
	return fmt.Sprintf("SerializeType(%d)", uint8(t))
}

// Flag bits of a command.
const (
	FlagResponse int32 = 1 << 0
	FlagOneway   int32 = 1 << 1
)

// Command is one RocketMQ remoting command, request or response.
//
// Code is the request code of a request and the response code of a response. Ext holds the
// extFields as decoded, in wire order; Header, when set, is a typed header written before
// Ext when the command is encoded (the way Java writes its FastCodesHeader fields), so a
// hot-path request never builds strings for its numbers. Body is not copied by Decode: it
// aliases the buffer the command was decoded from.
type Command struct {
	Code      int32
	Language  LanguageCode
	Version   int32
	Opaque    int32
	Flag      int32
	Remark    string
	Ext       ExtFields
	Header    HeaderEncoder
	Body      []byte
	Serialize SerializeType
	// KeepEmptyExt writes "extFields":{} in a JSON header when there are no fields, as
	// Java does for a command whose header class set none; decoding records it.
	KeepEmptyExt bool
}

// IsResponse reports whether the response bit is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the oneway bit is set.
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// RequestCode returns Code as a request code.
func (c *Command) RequestCode() RequestCode { return RequestCode(c.Code) }

// ResponseCode returns Code as a response code.
func (c *Command) ResponseCode() ResponseCode { return ResponseCode(c.Code) }

// Reset clears c for reuse, keeping the capacity of Ext.
func (c *Command) Reset() {
	ext := c.Ext[:0]
	*c = Command{Ext: ext}
}

// NewRequest returns a request with the given code and typed header, written as Java 4.9.4
// would (language and version are left for the caller's client identity).
func NewRequest(code RequestCode, h HeaderEncoder) *Command {
	return &Command{Code: int32(code), Header: h}
}

// NewResponse returns the response to req with the given code and remark: same opaque,
// same serialization, the response flag set.
func NewResponse(req *Command, code ResponseCode, remark string) *Command {
	return &Command{
		Code:      int32(code),
		Language:  req.Language,
		Version:   req.Version,
		Opaque:    req.Opaque,
		Flag:      FlagResponse,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

func (c *Command) String() string {
	kind := "request"
	code := RequestCode(c.Code).String()
	if c.IsResponse() {
		kind = "response"
		code = ResponseCode(c.Code).String()
	}
	return fmt.Sprintf("%s{code=%s opaque=%d flag=%d lang=%s ver=%d remark=%q ext=%v body=%dB}",
		kind, code, c.Opaque, c.Flag, c.Language, c.Version, c.Remark, c.Ext, len(c.Body))
}
