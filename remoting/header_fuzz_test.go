package remoting

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mqgate/mqgate/internal/recorded"
)

// Fuzz inputs encode extFields as key NUL value NUL key NUL value ...

func extFromFuzz(data string) ExtFields {
	parts := strings.Split(data, "\x00")
	var e ExtFields
	for i := 0; i+1 < len(parts); i += 2 {
		e = append(e, Field{Key: parts[i], Value: parts[i+1]})
	}
	return e
}

func extToFuzz(e ExtFields) string {
	var b strings.Builder
	for i, f := range e {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(f.Key)
		b.WriteByte(0)
		b.WriteString(f.Value)
	}
	return b.String()
}

// seedHeaders adds the extFields of every recorded frame as a seed.
func seedHeaders(f *testing.F) {
	frames, err := recorded.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, fr := range frames {
		c, err := DecodeFrame(fr.Bytes, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(extToFuzz(c.Ext))
	}
	f.Add("queueId\x00-0\x00queueOffset\x00+7")
	f.Add("a\x00\xff\x00e\x009999999999")
}

// checkHeaderRoundTrip decodes ext into fresh; when that succeeds, the header must survive
// a trip through a frame in each serialization and decode to the same value.
func checkHeaderRoundTrip(t *testing.T, fresh func() headerCodec, e ExtFields) {
	h := fresh()
	if err := h.DecodeFields(e); err != nil {
		if _, ok := err.(*HeaderError); !ok {
			t.Fatalf("%T: error %v is not a *HeaderError", h, err)
		}
		return
	}
	for _, ser := range []SerializeType{RocketMQ, JSON} {
		if ser == JSON && !utf8.ValidString(extToFuzz(e)) {
			continue // JSON carries text: invalid UTF-8 comes back as U+FFFD, as in Java
		}
		frame, err := (&Command{Code: 1, Header: h, Serialize: ser}).AppendFrame(nil)
		if err != nil {
			t.Fatalf("%T: encode: %v", h, err)
		}
		c, err := DecodeFrame(frame, 0)
		if err != nil {
			t.Fatalf("%T: decoding our own %s frame: %v\n%q", h, ser, err, frame)
		}
		again := fresh()
		if err := again.DecodeFields(c.Ext); err != nil {
			t.Fatalf("%T: decoding our own %s fields %v: %v", h, ser, c.Ext, err)
		}
		if !reflect.DeepEqual(again, h) {
			t.Fatalf("%T through %s:\n got %+v\nwant %+v", h, ser, again, h)
		}
	}
}

func FuzzDecodePullRequest(f *testing.F) {
	seedHeaders(f)
	f.Fuzz(func(t *testing.T, data string) {
		checkHeaderRoundTrip(t, func() headerCodec { return new(PullRequest) }, extFromFuzz(data))
	})
}

func FuzzDecodeSendRequestV2(f *testing.F) {
	seedHeaders(f)
	f.Fuzz(func(t *testing.T, data string) {
		checkHeaderRoundTrip(t, func() headerCodec { return new(SendRequestV2) }, extFromFuzz(data))
	})
}

func FuzzDecodeSendResponse(f *testing.F) {
	seedHeaders(f)
	f.Fuzz(func(t *testing.T, data string) {
		checkHeaderRoundTrip(t, func() headerCodec { return new(SendResponse) }, extFromFuzz(data))
	})
}

// allHeaders lists a constructor for every typed header.
var allHeaders = []func() headerCodec{
	func() headerCodec { return new(SendRequest) },
	func() headerCodec { return new(SendRequestV2) },
	func() headerCodec { return new(SendResponse) },
	func() headerCodec { return new(PullRequest) },
	func() headerCodec { return new(PullResponse) },
	func() headerCodec { return new(QueryConsumerOffsetRequest) },
	func() headerCodec { return new(QueryConsumerOffsetResponse) },
	func() headerCodec { return new(UpdateConsumerOffsetRequest) },
	func() headerCodec { return new(MaxOffsetRequest) },
	func() headerCodec { return new(MaxOffsetResponse) },
	func() headerCodec { return new(MinOffsetRequest) },
	func() headerCodec { return new(MinOffsetResponse) },
	func() headerCodec { return new(SearchOffsetRequest) },
	func() headerCodec { return new(SearchOffsetResponse) },
	func() headerCodec { return new(UnregisterClientRequest) },
	func() headerCodec { return new(ConsumerListRequest) },
	func() headerCodec { return new(NotifyConsumerIDsChangedRequest) },
	func() headerCodec { return new(ConsumerConnectionListRequest) },
	func() headerCodec { return new(ConsumerRunningInfoRequest) },
	func() headerCodec { return new(ConsumerStatusRequest) },
	func() headerCodec { return new(ConsumeMessageDirectlyRequest) },
	func() headerCodec { return new(ResetOffsetRequest) },
	func() headerCodec { return new(ConsumerSendMsgBackRequest) },
	func() headerCodec { return new(EndTransactionRequest) },
	func() headerCodec { return new(CheckTransactionStateRequest) },
	func() headerCodec { return new(RouteInfoRequest) },
	func() headerCodec { return new(RegisterBrokerRequest) },
	func() headerCodec { return new(RegisterBrokerResponse) },
	func() headerCodec { return new(UnregisterBrokerRequest) },
	func() headerCodec { return new(CreateTopicRequest) },
	func() headerCodec { return new(EmptyHeader) },
}

// FuzzDecodeHeaders runs every typed header over the same fields.
func FuzzDecodeHeaders(f *testing.F) {
	seedHeaders(f)
	f.Fuzz(func(t *testing.T, data string) {
		e := extFromFuzz(data)
		for _, fresh := range allHeaders {
			checkHeaderRoundTrip(t, fresh, e)
		}
	})
}
