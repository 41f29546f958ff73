package broker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/remoting"
)

// fuzzedCodes are the requests FuzzHandlers sends; pulls are left to FuzzSendAndPull,
// whose held requests would make every input wait.
var fuzzedCodes = []remoting.RequestCode{
	remoting.SendMessage, remoting.SendMessageV2, remoting.ViewMessageByID, remoting.Heartbeat,
	remoting.UnregisterClient, remoting.CheckClientConfig, remoting.GetConsumerListByGroup,
	remoting.UpdateConsumerOffset, remoting.QueryConsumerOffset, remoting.UpdateAndCreateTopic,
	remoting.DeleteTopicInBroker, remoting.SearchOffsetByTimestamp, remoting.GetMaxOffset,
	remoting.GetMinOffset, remoting.GetEarliestMessageStoreTime, remoting.LockBatchMQ,
	remoting.UnlockBatchMQ, remoting.UpdateAndCreateSubscriptionGroup, remoting.DeleteSubscriptionGroup,
	remoting.GetTopicStatsInfo, remoting.GetConsumerConnectionList, remoting.GetProducerConnectionList,
	remoting.GetConsumeStats, remoting.QueryTopicConsumeByWho, remoting.ConsumerSendMessageBack,
	remoting.EndTransaction, remoting.SendReplyMessage, remoting.SendReplyMessageV2, remoting.QueryMessage,
}

func fuzzExt(b []byte) remoting.ExtFields {
	var ext remoting.ExtFields
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte("="))
		ext = append(ext, remoting.Field{Key: string(k), Value: string(v)})
	}
	return ext
}

// FuzzHandlers feeds arbitrary headers and bodies to the broker's handlers: every request
// must be answered, none may make a handler panic.
func FuzzHandlers(f *testing.F) {
	for _, fr := range recorded.MustLoad(f) {
		if fr.Peer != "broker" || !fr.FromClient() {
			continue
		}
		cmd, err := remoting.DecodeFrame(fr.Bytes, 0)
		if err != nil {
			f.Fatal(err)
		}
		for i, c := range fuzzedCodes {
			if int32(c) == cmd.Code {
				var ext []byte
				for _, fl := range cmd.Ext {
					ext = append(append(append(append(ext, fl.Key...), '='), fl.Value...), '\n')
				}
				f.Add(uint8(i), ext, cmd.Body)
			}
		}
	}
	var panics panicLog
	tb := startBroker(f, func(c *Config) { c.Logger = slog.New(&panics) })
	tb.createTopic("F", 2)
	tb.send("F", 0, "hello", props("TAGS", "a"))
	f.Fuzz(func(t *testing.T, which uint8, ext, body []byte) {
		code := fuzzedCodes[int(which)%len(fuzzedCodes)]
		req := &remoting.Command{Code: int32(code), Version: remoting.Version494, Ext: fuzzExt(ext), Body: body}
		if code == remoting.EndTransaction {
			req.Flag = remoting.FlagOneway
			// A oneway request has no answer: a ping after it shows the broker lives on.
			ctx := t.Context()
			_ = tb.cl.InvokeOneway(ctx, tb.addr, req)
			req = &remoting.Command{Code: int32(remoting.GetMaxOffset), Version: remoting.Version494,
				Ext: remoting.ExtFields{{Key: "topic", Value: "F"}, {Key: "queueId", Value: "0"}}}
		}
		resp := invokeWith(t, tb.cl, tb.addr, req)
		if strings.HasPrefix(resp.Remark, "handler panic") {
			t.Fatalf("%s: %s", code, resp.Remark)
		}
		if p := panics.take(); p != "" {
			t.Fatalf("%s: %s", code, p)
		}
	})
}

// panicLog records the panics the transport logs, which a oneway request cannot answer.
type panicLog struct {
	mu   sync.Mutex
	last string
}

func (l *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *panicLog) WithGroup(string) slog.Handler            { return l }
func (l *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		l.mu.Lock()
		l.last = r.Message
		r.Attrs(func(a slog.Attr) bool { l.last += fmt.Sprintf(" %s=%v", a.Key, a.Value); return true })
		l.mu.Unlock()
	}
	return nil
}

func (l *panicLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.last
	l.last = ""
	return p
}
