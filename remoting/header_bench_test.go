package remoting

import (
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
)

// The typical send: the recorded Java producer's SEND_MESSAGE_V2 with tags, keys and a
// user property, in each serialization.
var sendFrames = map[SerializeType]string{
	JSON:     "009-send-json-req310.bin",
	RocketMQ: "086-send-rocketmq-req310.bin",
}

var pullFrames = map[SerializeType]string{
	JSON:     "036-pull-json-req11.bin",
	RocketMQ: "114-pull-rocketmq-req11.bin",
}

func benchCommand(b *testing.B, file string) *Command {
	b.Helper()
	c, err := DecodeFrame(recorded.Find(b, recorded.MustLoad(b), file).Bytes, 0)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSendRequestV2Encode builds a send request from its typed header into a reused
// buffer, as a producer does per message (body included).
func BenchmarkSendRequestV2Encode(b *testing.B) {
	for _, ser := range []SerializeType{JSON, RocketMQ} {
		b.Run(ser.String(), func(b *testing.B) {
			rec := benchCommand(b, sendFrames[ser])
			var h SendRequestV2
			if err := h.DecodeFields(rec.Ext); err != nil {
				b.Fatal(err)
			}
			c := &Command{Code: int32(SendMessageV2), Language: LanguageJava, Version: Version494,
				Header: &h, Body: rec.Body, Serialize: ser}
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				c.Opaque++
				var err error
				if buf, err = c.AppendFrame(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkSendRequestV2Decode reads a recorded send request into a reused command and
// header, as a broker does per message.
func BenchmarkSendRequestV2Decode(b *testing.B) {
	for _, ser := range []SerializeType{JSON, RocketMQ} {
		b.Run(ser.String(), func(b *testing.B) {
			payload := recorded.Find(b, recorded.MustLoad(b), sendFrames[ser]).Bytes[4:]
			var c Command
			var h SendRequestV2
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Decode(payload); err != nil {
					b.Fatal(err)
				}
				if err := h.DecodeFields(c.Ext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPullRequestDecode reads a recorded pull request: the whole frame, and the
// typed header alone from decoded extFields.
func BenchmarkPullRequestDecode(b *testing.B) {
	for _, ser := range []SerializeType{JSON, RocketMQ} {
		payload := recorded.Find(b, recorded.MustLoad(b), pullFrames[ser]).Bytes[4:]
		b.Run(ser.String()+"/frame", func(b *testing.B) {
			var c Command
			var h PullRequest
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Decode(payload); err != nil {
					b.Fatal(err)
				}
				if err := h.DecodeFields(c.Ext); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(ser.String()+"/header", func(b *testing.B) {
			var c Command
			if err := c.Decode(payload); err != nil {
				b.Fatal(err)
			}
			var h PullRequest
			b.ReportAllocs()
			for b.Loop() {
				if err := h.DecodeFields(c.Ext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Bodies are not on the hot path; these say what a route refresh or heartbeat costs.
func BenchmarkTopicRouteData(b *testing.B) {
	body := benchCommand(b, "005-send-json-resp0.bin").Body
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r TopicRouteData
			if err := r.Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	legacy := benchCommand(b, "445-go-send-json-resp0.bin").Body
	b.Run("decode-bare-ids", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r TopicRouteData
			if err := r.Decode(legacy); err != nil {
				b.Fatal(err)
			}
		}
	})
	var r TopicRouteData
	if err := r.Decode(body); err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.EncodeStandard()
		}
	})
}

func BenchmarkHeartbeatData(b *testing.B) {
	body := benchCommand(b, "169-push-json-req34.bin").Body
	var h HeartbeatData
	if err := h.Decode(body); err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var h HeartbeatData
			if err := h.Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Encode()
		}
	})
}
