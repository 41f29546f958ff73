package namesrv

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/remoting"
)

// TestReplayRecordedNameServer replays requests recorded against Apache RocketMQ 4.9.4's
// NameServer, after the broker registration recorded in the same scenario, and compares
// the answers with the recorded ones field by field and then byte for byte.
func TestReplayRecordedNameServer(t *testing.T) {
	frames := recorded.MustLoad(t)
	cases := []struct {
		name     string
		register string // REGISTER_BROKER frame replayed first, "" for none
		request  string
		response string
	}{
		{"route of TBW102 to a 4.9.4 client is standard JSON", "071-pull-json-req103.bin",
			"067-pull-json-req105.bin", "069-pull-json-resp0.bin"},
		{"route of a created topic to a 4.9.4 client", "071-pull-json-req103.bin",
			"068-pull-json-req105.bin", "070-pull-json-resp0.bin"},
		{"route of TBW102 in the send scenario", "026-send-json-req103.bin",
			"001-send-json-req105.bin", "005-send-json-resp0.bin"},
		{"route to rocketmq-client-go has bare broker ids", "071-pull-json-req103.bin",
			"444-go-send-json-req105.bin", "445-go-send-json-resp0.bin"},
		{"unknown topic answers TOPIC_NOT_EXIST with Java's remark", "",
			"002-send-json-req105.bin", "006-send-json-resp17.bin"},
		{"unknown topic in ROCKETMQ serialization", "071-pull-json-req103.bin",
			"082-send-rocketmq-req105.bin", "085-send-rocketmq-resp17.bin"},
		{"retry topic of a new group is unknown", "245-push-json-req103.bin",
			"159-push-json-req105.bin", "165-push-json-resp17.bin"},
		{"register broker answers an empty header", "",
			"245-push-json-req103.bin", "247-push-json-resp0.bin"},
		{"cluster info has bare broker ids", "245-push-json-req103.bin",
			"295-push-json-req106.bin", "300-push-json-resp0.bin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, Config{})
			if tc.register != "" {
				// The registering connection stays open: closing it would remove the broker.
				reg := recorded.Find(t, frames, tc.register)
				dialRaw(t, s.Addr()).send(reg.Bytes)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := s.WaitForBroker(ctx, reg.ExtFields["brokerAddr"]); err != nil {
					t.Fatalf("recorded registration not seen: %v", err)
				}
			}
			conn := dialRaw(t, s.Addr())
			conn.send(recorded.Find(t, frames, tc.request).Bytes)
			got := conn.receive()
			want := recorded.Find(t, frames, tc.response).Bytes
			compareFrames(t, got, want)
		})
	}
}

// compareFrames reports the first differing fields of two response frames, then any
// difference left in their bytes.
func compareFrames(t *testing.T, got, want []byte) {
	t.Helper()
	g, err := remoting.DecodeFrame(got, 0)
	if err != nil {
		t.Fatalf("response does not decode: %v\n%q", err, got)
	}
	w, err := remoting.DecodeFrame(want, 0)
	if err != nil {
		t.Fatal(err)
	}
	fields := []struct {
		name      string
		got, want any
	}{
		{"code", remoting.ResponseCode(g.Code), remoting.ResponseCode(w.Code)},
		{"remark", g.Remark, w.Remark},
		{"opaque", g.Opaque, w.Opaque},
		{"flag", g.Flag, w.Flag},
		{"language", g.Language, w.Language},
		{"version", g.Version, w.Version},
		{"serialization", g.Serialize, w.Serialize},
		{"extFields", g.Ext.String(), w.Ext.String()},
		{"body", string(g.Body), string(w.Body)},
	}
	for _, f := range fields {
		if f.got != f.want {
			t.Errorf("%s: got %v\nwant %v", f.name, f.got, f.want)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("frames differ:\n got %q\nwant %q", got, want)
	}
}

// TestRecordedRegistrationsDecode registers every recorded REGISTER_BROKER body, each
// on a fresh NameServer, and checks its topics become routable with their queue counts.
func TestRecordedRegistrationsDecode(t *testing.T) {
	frames := recorded.MustLoad(t)
	n := 0
	for i := range frames {
		f := &frames[i]
		if f.Code != int32(remoting.RegisterBroker) || f.Response {
			continue
		}
		n++
		t.Run(f.File, func(t *testing.T) {
			s := start(t, Config{})
			cl := newClient(t)
			req, err := remoting.DecodeFrame(f.Bytes, 0)
			if err != nil {
				t.Fatal(err)
			}
			var body remoting.RegisterBrokerBody
			if err := body.Decode(req.Body, false); err != nil {
				t.Fatal(err)
			}
			req.Flag = 0 // ask for the response even where the broker sent it oneway
			if resp := call(t, cl, s.Addr(), req); resp.Code != int32(remoting.Success) {
				t.Fatalf("%s %q", remoting.ResponseCode(resp.Code), resp.Remark)
			}
			for name, tc := range body.TopicConfig.Topics {
				r := routeOf(t, cl, s.Addr(), name)
				if r == nil {
					t.Fatalf("topic %s not routed", name)
				}
				q := r.Queues[0]
				if q.ReadQueueNums != tc.ReadQueueNums || q.WriteQueueNums != tc.WriteQueueNums || q.Perm != tc.Perm {
					t.Errorf("topic %s routed as %+v, registered %+v", name, q, tc)
				}
				if got := r.Brokers[0].Addrs[0]; got != req.Ext.Get("brokerAddr") {
					t.Errorf("topic %s master %q", name, got)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no recorded registrations")
	}
}
