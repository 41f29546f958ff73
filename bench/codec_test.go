package bench

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/mqgateshim"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The same send request for both: SEND_MESSAGE (the header rocketmq-client-go sends for a
// single message) with a 1 KiB body and the properties a producer typically sets.
var (
	sendBody  = []byte(strings.Repeat("x", 1024))
	sendProps = func() string {
		var p message.Properties
		p.Set(message.PropertyKeys, "order-1 order-2")
		p.Set(message.PropertyUniqKey, "7F0000010C2A18B4AAC2541B2C3C0000")
		p.Set(message.PropertyWaitStoreMsgOK, "true")
		p.Set(message.PropertyTags, "TagA")
		p.Set("color", "blue")
		return string(p.AppendTo(nil))
	}()
)

func mqgateSendCommand(ser remoting.SerializeType) *remoting.Command {
	return &remoting.Command{
		Code:      int32(remoting.SendMessage),
		Language:  remoting.LanguageGo,
		Version:   remoting.Version494,
		Opaque:    42,
		Serialize: ser,
		Body:      sendBody,
		Header: &remoting.SendRequest{
			ProducerGroup:         "bench_pg",
			Topic:                 "BenchTopic",
			DefaultTopic:          "TBW102",
			DefaultTopicQueueNums: 4,
			QueueID:               3,
			BornTimestamp:         1795565703493,
			Properties:            sendProps,
		},
	}
}

func peerSendCommand() *mqgateshim.Command {
	return mqgateshim.NewSendCommand(mqgateshim.SendRequest{
		Group: "bench_pg", Topic: "BenchTopic", QueueID: 3, BornTimestamp: 1795565703493, Properties: sendProps,
	}, sendBody)
}

func usePeerSerialization(ser remoting.SerializeType) {
	if ser == remoting.JSON {
		mqgateshim.UseJSON()
	} else {
		mqgateshim.UseRocketMQ()
	}
}

var serializations = []remoting.SerializeType{remoting.JSON, remoting.RocketMQ}

// BenchmarkEncodeSendRequest builds a send request and encodes it into a frame, as a
// producer does for every message.
func BenchmarkEncodeSendRequest(b *testing.B) {
	for _, ser := range serializations {
		b.Run(fmt.Sprintf("ser=%s/impl=mqgate", ser), func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for i := 0; i < b.N; i++ {
				cmd := mqgateSendCommand(ser)
				var err error
				if buf, err = cmd.AppendFrame(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("ser=%s/impl=rocketmq-client-go", ser), func(b *testing.B) {
			usePeerSerialization(ser)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := mqgateshim.Encode(peerSendCommand()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeSendRequest decodes the same frame with both codecs; mqgate also parses
// the typed header, which the peer leaves as a map.
func BenchmarkDecodeSendRequest(b *testing.B) {
	for _, ser := range serializations {
		frame, err := mqgateSendCommand(ser).AppendFrame(nil)
		if err != nil {
			b.Fatal(err)
		}
		payload := frame[4:]
		b.Run(fmt.Sprintf("ser=%s/impl=mqgate", ser), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			var cmd remoting.Command
			var h remoting.SendRequest
			for i := 0; i < b.N; i++ {
				if err := cmd.Decode(payload); err != nil {
					b.Fatal(err)
				}
				if err := h.DecodeFields(cmd.Ext); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("ser=%s/impl=rocketmq-client-go", ser), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for i := 0; i < b.N; i++ {
				if _, err := mqgateshim.Decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// pullBody is a PULL_MESSAGE body of n stored messages of size bytes, as the broker writes it.
func pullBody(tb testing.TB, n, size int) []byte {
	var out []byte
	for i := 0; i < n; i++ {
		e := message.Ext{
			Message: message.Message{
				Topic: "BenchTopic",
				Body:  []byte(strings.Repeat(string(rune('a'+i%26)), size)),
			},
			QueueID:         1,
			QueueOffset:     int64(i),
			CommitLogOffset: int64(i * (size + 200)),
			BornTimestamp:   1795565703493 + int64(i),
			StoreTimestamp:  1795565703500 + int64(i),
			BornHost:        netip.MustParseAddrPort("10.0.0.7:51234"),
			StoreHost:       netip.MustParseAddrPort("10.0.0.9:10911"),
		}
		e.Properties.Set(message.PropertyKeys, fmt.Sprintf("key-%d", i))
		e.Properties.Set(message.PropertyUniqKey, fmt.Sprintf("7F0000010C2A18B4AAC2541B2C3C%04X", i))
		e.Properties.Set(message.PropertyTags, "TagA")
		e.Properties.Set(message.PropertyMinOffset, "0")
		e.Properties.Set(message.PropertyMaxOffset, "32")
		var err error
		if out, err = message.AppendStored(out, &e); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// BenchmarkDecodePullBody decodes a pull response body of 32 messages of 1 KiB.
func BenchmarkDecodePullBody(b *testing.B) {
	body := pullBody(b, 32, 1024)
	b.Run("impl=mqgate", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		var d message.Decoder
		var msgs []message.Ext
		for i := 0; i < b.N; i++ {
			var err error
			if msgs, err = d.DecodeStored(msgs, body); err != nil || len(msgs) != 32 {
				b.Fatal(err, len(msgs))
			}
		}
	})
	b.Run("impl=mqgate-zerocopy", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		d := message.Decoder{ZeroCopy: true}
		var msgs []message.Ext
		for i := 0; i < b.N; i++ {
			var err error
			if msgs, err = d.DecodeStored(msgs, body); err != nil || len(msgs) != 32 {
				b.Fatal(err, len(msgs))
			}
		}
	})
	b.Run("impl=rocketmq-client-go", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for i := 0; i < b.N; i++ {
			if msgs := primitive.DecodeMessage(body); len(msgs) != 32 {
				b.Fatal(len(msgs))
			}
		}
	})
}

// TestCodecsAgree guards the benchmarks: both sides must read the same values from the
// same bytes, or the comparison means nothing.
func TestCodecsAgree(t *testing.T) {
	for _, ser := range serializations {
		frame, err := mqgateSendCommand(ser).AppendFrame(nil)
		if err != nil {
			t.Fatal(err)
		}
		peer, err := mqgateshim.Decode(frame[4:])
		if err != nil {
			t.Fatalf("%s: peer cannot decode mqgate's frame: %v", ser, err)
		}
		if peer.ExtFields["topic"] != "BenchTopic" || peer.ExtFields["properties"] != sendProps || string(peer.Body) != string(sendBody) {
			t.Errorf("%s: peer read %v", ser, peer.ExtFields)
		}
		usePeerSerialization(ser)
		pf, err := mqgateshim.Encode(peerSendCommand())
		if err != nil {
			t.Fatal(err)
		}
		var cmd remoting.Command
		if err := cmd.Decode(pf[4:]); err != nil {
			t.Fatalf("%s: mqgate cannot decode the peer's frame: %v", ser, err)
		}
		var h remoting.SendRequest
		if err := h.DecodeFields(cmd.Ext); err != nil || h.Topic != "BenchTopic" || h.Properties != sendProps {
			t.Errorf("%s: mqgate read %+v: %v", ser, h, err)
		}
	}
	body := pullBody(t, 32, 1024)
	ours, err := message.DecodeStored(body)
	if err != nil {
		t.Fatal(err)
	}
	theirs := primitive.DecodeMessage(body)
	if len(ours) != 32 || len(theirs) != 32 {
		t.Fatalf("decoded %d and %d messages", len(ours), len(theirs))
	}
	for i := range ours {
		if string(ours[i].Body) != string(theirs[i].Body) || ours[i].QueueOffset != theirs[i].QueueOffset ||
			ours[i].Keys() != theirs[i].GetKeys() || ours[i].OffsetMsgID() != theirs[i].OffsetMsgId {
			t.Errorf("message %d differs: %s/%s %s/%s", i, ours[i].Keys(), theirs[i].GetKeys(), ours[i].OffsetMsgID(), theirs[i].OffsetMsgId)
		}
	}
}
