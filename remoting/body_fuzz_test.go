package remoting

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
)

// seedBodies adds every recorded body with a JSON object's first byte as a seed, plus
// fastjson forms the recordings lack.
func seedBodies(f *testing.F) {
	frames, err := recorded.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, fr := range frames {
		c, err := DecodeFrame(fr.Bytes, 0)
		if err != nil {
			f.Fatal(err)
		}
		if len(c.Body) > 0 && c.Body[0] == '{' {
			f.Add(c.Body)
		}
	}
	f.Add([]byte(`{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:5}}`))
	f.Add([]byte(`{'brokerDatas':[{'brokerAddrs':{-1:'x'}}]}`))
}

// body is what the fuzzed decoders share.
type body interface {
	Encode() []byte
	Decode([]byte) error
}

// checkBodyRoundTrip decodes data; when that succeeds, encoding is stable: what we write
// decodes and re-encodes to the same bytes.
func checkBodyRoundTrip(t *testing.T, fresh func() body, data []byte) {
	b := fresh()
	if err := b.Decode(data); err != nil {
		var be *BodyError
		if !errors.As(err, &be) {
			t.Fatalf("%T: error %v is not a *BodyError", b, err)
		}
		return
	}
	first := b.Encode()
	again := fresh()
	if err := again.Decode(first); err != nil {
		t.Fatalf("%T: decoding our own encoding: %v\n%s", b, err, first)
	}
	if second := again.Encode(); !bytes.Equal(second, first) {
		t.Fatalf("%T: encoding is not stable\nfirst  %s\nsecond %s", b, first, second)
	}
}

// standardRoute encodes a route in the standard style, to fuzz that encoder too.
type standardRoute struct{ TopicRouteData }

func (r *standardRoute) Encode() []byte { return r.EncodeStandard() }

func FuzzDecodeTopicRouteData(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBodyRoundTrip(t, func() body { return new(TopicRouteData) }, data)
		checkBodyRoundTrip(t, func() body { return new(standardRoute) }, data)
	})
}

func FuzzDecodeHeartbeatData(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkBodyRoundTrip(t, func() body { return new(HeartbeatData) }, data)
	})
}

// FuzzDecodeBodies runs the other JSON bodies, the queue-keyed ones among them.
func FuzzDecodeBodies(f *testing.F) {
	seedBodies(f)
	fresh := []func() body{
		func() body { return new(ClusterInfo) },
		func() body { return new(ConsumerRunningInfo) },
		func() body { return new(ResetOffsetBody) },
		func() body { return new(ConsumerStatusBody) },
		func() body { return new(LockBatchRequestBody) },
		func() body { return new(LockBatchResponseBody) },
		func() body { return new(ConsumerListBody) },
		func() body { return new(ConsumerConnection) },
		func() body { return new(ConsumeMessageDirectlyResult) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fr := range fresh {
			checkBodyRoundTrip(t, fr, data)
		}
	})
}

func FuzzDecodeRegisterBrokerBody(f *testing.F) {
	seedBodies(f)
	var rb RegisterBrokerBody
	if err := rb.Decode(recordedCommand(f, "026-send-json-req103.bin").Body, false); err != nil {
		f.Fatal(err)
	}
	f.Add(rb.Encode(true))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, compressed := range []bool{false, true} {
			var b RegisterBrokerBody
			if err := b.Decode(data, compressed); err != nil {
				var be *BodyError
				if !errors.As(err, &be) {
					t.Fatalf("error %v is not a *BodyError", err)
				}
				continue
			}
			first := b.Encode(compressed)
			var again RegisterBrokerBody
			if err := again.Decode(first, compressed); err != nil {
				t.Fatalf("decoding our own encoding (compressed %v): %v", compressed, err)
			}
			if !bytes.Equal(again.Encode(false), b.Encode(false)) {
				t.Fatalf("encoding is not stable (compressed %v)", compressed)
			}
		}
	})
}
