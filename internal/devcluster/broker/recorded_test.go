package broker

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The recorded scenarios are replayed against this broker, request by request, and each
// answer compared with the real 4.9.4 broker's: code, remark, language and version, the
// header's fields (order included) and, for pulls, the stored messages field by field.
// What depends on the machine or the moment — born and store hosts, store timestamps,
// commit log offsets after the first message — is compared in kind only.

// replayer sends recorded requests and checks the answers against the recordings.
type replayer struct {
	t      *testing.T
	tb     *testBroker
	frames []recorded.Frame
}

func (r *replayer) frame(file string) *recorded.Frame { return recorded.Find(r.t, r.frames, file) }

// command decodes a recorded frame.
func (r *replayer) command(f *recorded.Frame) *remoting.Command {
	r.t.Helper()
	cmd, err := remoting.DecodeFrame(f.Bytes, 0)
	if err != nil {
		r.t.Fatalf("%s: %v", f.File, err)
	}
	return cmd
}

// answerOf finds the recorded answer to a recorded request: same scenario, same opaque.
func (r *replayer) answerOf(req *recorded.Frame) *recorded.Frame {
	r.t.Helper()
	for i := range r.frames {
		f := &r.frames[i]
		if f.Scenario == req.Scenario && f.Peer == "broker" && f.Response && f.Opaque == req.Opaque {
			return f
		}
	}
	r.t.Fatalf("no recorded answer to %s", req.File)
	return nil
}

// send replays a request on cl and compares the answer; oneway requests get none.
func (r *replayer) send(cl *netpoll.Client, file string) *remoting.Command {
	r.t.Helper()
	f := r.frame(file)
	req := r.command(f)
	if f.Oneway {
		if err := cl.InvokeOneway(context.Background(), r.tb.addr, req); err != nil {
			r.t.Fatalf("%s: %v", file, err)
		}
		return nil
	}
	got := invokeWith(r.t, cl, r.tb.addr, req)
	r.compare(r.answerOf(f), got)
	return got
}

// sendAsync replays a request whose answer comes later (a held pull).
func (r *replayer) sendAsync(cl *netpoll.Client, file string) <-chan *remoting.Command {
	r.t.Helper()
	f := r.frame(file)
	ch := make(chan *remoting.Command, 1)
	err := cl.InvokeAsync(context.Background(), r.tb.addr, r.command(f), func(resp *remoting.Command, err error) {
		if err != nil {
			r.t.Errorf("%s: %v", file, err)
		}
		ch <- resp
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return ch
}

// compare checks got against the recorded answer want.
func (r *replayer) compare(wantFrame *recorded.Frame, got *remoting.Command) {
	r.t.Helper()
	want := r.command(wantFrame)
	name := wantFrame.File
	if got == nil {
		r.t.Errorf("%s: no answer", name)
		return
	}
	if got.Code != want.Code || got.Remark != want.Remark {
		r.t.Errorf("%s: answered %d %q, Java %d %q", name, got.Code, got.Remark, want.Code, want.Remark)
	}
	// Java answers a held pull in JSON whatever the request's serialization (recording
	// 142); the transport answers in the request's, so only JSON's empty extFields compare.
	emptyExtDiffers := got.Serialize == want.Serialize && got.KeepEmptyExt != want.KeepEmptyExt
	if got.Language != want.Language || got.Version != want.Version || emptyExtDiffers {
		r.t.Errorf("%s: language %s version %d empty ext %v, Java %s %d %v", name, got.Language, got.Version,
			got.KeepEmptyExt, want.Language, want.Version, want.KeepEmptyExt)
	}
	keys := func(e remoting.ExtFields) []string {
		var k []string
		for _, f := range e {
			k = append(k, f.Key)
		}
		return k
	}
	if !slices.Equal(keys(got.Ext), keys(want.Ext)) {
		r.t.Errorf("%s: header fields %v, Java %v", name, keys(got.Ext), keys(want.Ext))
	}
	for _, f := range want.Ext {
		g, _ := got.Ext.Lookup(f.Key)
		if f.Key == "msgId" {
			r.compareMsgIDs(name, g, f.Value)
			continue
		}
		if g != f.Value {
			r.t.Errorf("%s: %s = %q, Java %q", name, f.Key, g, f.Value)
		}
	}
	if want.Remark == "FOUND" {
		r.compareMessages(name, got.Body, want.Body)
	} else if !bytes.Equal(got.Body, want.Body) {
		r.t.Errorf("%s: body %q, Java %q", name, got.Body, want.Body)
	}
}

// compareMsgIDs checks offset message ids: this broker's host, as many as Java's.
func (r *replayer) compareMsgIDs(name, got, want string) {
	r.t.Helper()
	g, w := strings.Split(got, ","), strings.Split(want, ",")
	if len(g) != len(w) {
		r.t.Errorf("%s: %d message ids, Java %d", name, len(g), len(w))
		return
	}
	for _, id := range g {
		host, off, err := message.ParseOffsetMsgID(id)
		if err != nil || host != r.tb.b.host {
			r.t.Errorf("%s: message id %s: host %v, want %v (%v)", name, id, host, r.tb.b.host, err)
			continue
		}
		if _, err := r.tb.store.ReadAt(off); err != nil {
			r.t.Errorf("%s: message id %s names no message: %v", name, id, err)
		}
	}
}

// compareMessages compares stored messages field by field.
func (r *replayer) compareMessages(name string, gotBody, wantBody []byte) {
	r.t.Helper()
	d := message.Decoder{KeepCompressed: true}
	want, err := d.DecodeStored(nil, wantBody)
	if err != nil {
		r.t.Fatal(err)
	}
	want = slices.Clone(want)
	got, err := d.DecodeStored(nil, gotBody)
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	if len(got) != len(want) {
		r.t.Fatalf("%s: %d messages, Java %d", name, len(got), len(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		if g.Topic != w.Topic || g.QueueID != w.QueueID || g.QueueOffset != w.QueueOffset || g.Flag != w.Flag ||
			g.SysFlag != w.SysFlag || g.BodyCRC != w.BodyCRC || g.BornTimestamp != w.BornTimestamp ||
			g.ReconsumeTimes != w.ReconsumeTimes || g.PreparedTransactionOffset != w.PreparedTransactionOffset {
			r.t.Errorf("%s message %d:\n got %+v\nJava %+v", name, i, *g, *w)
		}
		if !bytes.Equal(g.Body, w.Body) {
			r.t.Errorf("%s message %d: body differs", name, i)
		}
		if gp, wp := g.Properties.Encode(), w.Properties.Encode(); gp != wp {
			r.t.Errorf("%s message %d properties\n got %q\nJava %q", name, i, gp, wp)
		}
		if g.StoreHost != r.tb.b.host || !g.BornHost.Addr().IsLoopback() {
			r.t.Errorf("%s message %d: store host %v born host %v", name, i, g.StoreHost, g.BornHost)
		}
	}
}

// recordedBroker is a broker named as the recorded one.
func recordedBroker(t *testing.T) *replayer {
	tb := startBroker(t, func(c *Config) { c.BrokerName = "broker-tap" })
	return &replayer{t: t, tb: tb, frames: recorded.MustLoad(t)}
}

func TestRecordedSendScenarioIsAnsweredAsJava(t *testing.T) {
	r := recordedBroker(t)
	cl := r.tb.cl
	// send-json: the topic is created from TBW102 by the first send.
	for _, f := range []string{"009-send-json-req310.bin", "010-send-json-req34.bin", "011-send-json-req310.bin",
		"012-send-json-req310.bin", "013-send-json-req320.bin", "014-send-json-req310.bin", "015-send-json-req310.bin",
		"016-send-json-req35.bin", "017-send-json-req35.bin"} {
		got := r.send(cl, f)
		if f == "009-send-json-req310.bin" {
			// The first message of a fresh commit log is at offset 0, as in the recording.
			if id := got.Ext.Get("msgId"); !strings.HasSuffix(id, "0000000000000000") {
				t.Errorf("first message id %s", id)
			}
		}
	}
	tc := r.tb.b.topics.get("RecTopic")
	if tc == nil || tc.ReadQueueNums != 4 || tc.WriteQueueNums != 4 || tc.Perm != 6 {
		t.Fatalf("auto-created topic %+v", tc)
	}
	// rocketmq-client-go: SEND_MESSAGE (v1) and a batch with empty properties.
	cl2 := newClient(t)
	for _, f := range []string{"446-go-send-json-req10.bin", "447-go-send-json-req320.bin"} {
		req := r.command(r.frame(f))
		got := invokeWith(t, cl2, r.tb.addr, req)
		if got.Code != 0 || got.Ext.Get("MSG_REGION") != "DefaultRegion" {
			t.Errorf("%s: %d %q %v", f, got.Code, got.Remark, got.Ext)
		}
	}
	// Stored as a real broker stores them (recordings 485, 487): the Go client's order of
	// properties is Java's HashMap's once stored, the batch's CLUSTER follows the message's.
	got := r.tb.pull(pullHeader("g", "RecTopic", 1, 1, "*"))
	if len(got.msgs) != 1 || got.msgs[0].Properties.Encode() !=
		props("color", "green", "KEYS", "go-1 go-2", "UNIQ_KEY", "C00002023587000000007bb83dc00001", "CLUSTER", "DefaultCluster", "TAGS", "TagA") {
		t.Errorf("go single message: %+v", got.msgs)
	}
	got = r.tb.pull(pullHeader("g", "RecTopic", 2, 5, "*"))
	if len(got.msgs) != 3 || got.msgs[0].Properties.Encode() != props("TAGS", "TagB", "CLUSTER", "DefaultCluster") {
		t.Errorf("go batch messages: %+v", got.msgs)
	}
}

// The pull scenarios need the recorded queue 1 of RecTopic: the messages sent to it
// before, in order.
var pullSetup = map[string][]string{
	"pull-json": {"012-send-json-req310.bin"},
	"pull-rocketmq": {"012-send-json-req310.bin", "073-pull-json-req310.bin", "046-pull-json-req15.bin",
		"086-send-rocketmq-req310.bin", "091-send-rocketmq-req310.bin"},
}

func TestRecordedPullScenarioIsAnsweredAsJava(t *testing.T) {
	for _, tc := range []struct {
		scenario         string
		before, longPoll []string // on the consumer's connection, before and after the held pull
		held             string
		producer         []string // on another connection, the send that wakes the held pull
		after            []string
		notify           string // the NOTIFY_CONSUMER_IDS_CHANGED the heartbeat causes
	}{
		{
			scenario: "pull-json",
			before: []string{"031-pull-json-req30.bin", "032-pull-json-req31.bin", "033-pull-json-req30.bin",
				"034-pull-json-req14.bin", "035-pull-json-req29.bin", "036-pull-json-req11.bin", "037-pull-json-req11.bin",
				"038-pull-json-req30.bin", "039-pull-json-req11.bin", "040-pull-json-req30.bin", "041-pull-json-req11.bin",
				"042-pull-json-req30.bin"},
			held:     "043-pull-json-req11.bin",
			longPoll: []string{"044-pull-json-req34.bin", "045-pull-json-req38.bin"},
			producer: []string{"072-pull-json-req34.bin", "073-pull-json-req310.bin"},
			after:    []string{"046-pull-json-req15.bin", "047-pull-json-req35.bin", "048-pull-json-req35.bin"},
			notify:   "061-pull-json-req40.bin",
		},
		{
			scenario: "pull-rocketmq",
			before: []string{"109-pull-rocketmq-req30.bin", "110-pull-rocketmq-req31.bin", "111-pull-rocketmq-req30.bin",
				"112-pull-rocketmq-req14.bin", "113-pull-rocketmq-req29.bin", "114-pull-rocketmq-req11.bin",
				"115-pull-rocketmq-req11.bin", "116-pull-rocketmq-req30.bin", "117-pull-rocketmq-req11.bin",
				"118-pull-rocketmq-req30.bin", "119-pull-rocketmq-req11.bin", "120-pull-rocketmq-req30.bin"},
			held:     "121-pull-rocketmq-req11.bin",
			longPoll: []string{"122-pull-rocketmq-req34.bin", "123-pull-rocketmq-req38.bin"},
			producer: []string{"149-pull-rocketmq-req34.bin", "150-pull-rocketmq-req310.bin"},
			after:    []string{"124-pull-rocketmq-req15.bin", "125-pull-rocketmq-req35.bin", "126-pull-rocketmq-req35.bin"},
			notify:   "139-pull-rocketmq-req40.bin",
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := recordedBroker(t)
			setup := newClient(t)
			for _, f := range pullSetup[tc.scenario] {
				req := r.command(r.frame(f))
				if r.frame(f).Oneway {
					req.Flag &^= remoting.FlagOneway // wait for it to be done
				}
				if resp := invokeWith(t, setup, r.tb.addr, req); resp.Code != 0 {
					t.Fatalf("setup %s: %d %s", f, resp.Code, resp.Remark)
				}
			}
			consumer := newClient(t)
			notes := watchNotifications(consumer)
			for _, f := range tc.before {
				r.send(consumer, f)
			}
			held := r.sendAsync(consumer, tc.held)
			for _, f := range tc.longPoll {
				r.send(consumer, f)
			}
			// The heartbeat of a new client changes its group: the broker tells it.
			want := r.command(r.frame(tc.notify)).Ext.Get("consumerGroup")
			if g := notes.next(t, 5*time.Second); g != want {
				t.Errorf("notified group %q, Java %q", g, want)
			}
			select {
			case <-held:
				t.Fatal("the held pull was answered before a message arrived")
			default:
			}
			producer := newClient(t)
			for _, f := range tc.producer {
				r.send(producer, f)
			}
			select {
			case got := <-held:
				r.compare(r.answerOf(r.frame(tc.held)), got)
			case <-time.After(5 * time.Second):
				t.Fatal("the held pull was not woken by the send")
			}
			for _, f := range tc.after {
				r.send(consumer, f)
			}
			// The oneway offset update (the first of after) was stored.
			upd := r.command(r.frame(tc.after[0]))
			var h remoting.UpdateConsumerOffsetRequest
			if err := h.DecodeFields(upd.Ext); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the committed offset", 5*time.Second, func() bool {
				return r.tb.b.offsets.query(h.ConsumerGroup, h.Topic, h.QueueID) == h.CommitOffset
			})
		})
	}
}

func TestRecordedOrderlyScenarioIsAnsweredAsJava(t *testing.T) {
	r := recordedBroker(t)
	if resp := invokeWith(t, newClient(t), r.tb.addr, r.command(r.frame("012-send-json-req310.bin"))); resp.Code != 0 {
		t.Fatalf("creating RecTopic: %d %s", resp.Code, resp.Remark)
	}
	consumer := newClient(t)
	watchNotifications(consumer)
	// Heartbeats, consumer lists, the queue locks (each alone, then all five at once: the
	// answer in Java's HashSet order) and the offsets of a new group.
	for _, f := range []string{"321-orderly-json-req34.bin", "322-orderly-json-req38.bin", "323-orderly-json-req38.bin",
		"324-orderly-json-req41.bin", "325-orderly-json-req14.bin", "326-orderly-json-req41.bin", "327-orderly-json-req14.bin",
		"328-orderly-json-req41.bin", "329-orderly-json-req14.bin", "330-orderly-json-req41.bin", "331-orderly-json-req14.bin",
		"332-orderly-json-req34.bin", "333-orderly-json-req38.bin", "334-orderly-json-req41.bin", "335-orderly-json-req14.bin",
		"336-orderly-json-req34.bin", "337-orderly-json-req38.bin", "338-orderly-json-req41.bin"} {
		r.send(consumer, f)
	}
}

// The recorded UNLOCK_BATCH_MQ of a consumer shutting down is answered as Java's and
// frees its queues at once: another client of the group locks them all, where before it
// got none (RebalanceLockManager.unlockBatch removes the holder's entries).
func TestRecordedOrderlyUnlockFreesTheQueuesAtOnce(t *testing.T) {
	r := recordedBroker(t)
	if resp := invokeWith(t, newClient(t), r.tb.addr, r.command(r.frame("012-send-json-req310.bin"))); resp.Code != 0 {
		t.Fatalf("creating RecTopic: %d %s", resp.Code, resp.Remark)
	}
	consumer := newClient(t)
	watchNotifications(consumer)
	r.send(consumer, "338-orderly-json-req41.bin") // the recorded client locks the five queues
	other := func() int {
		t.Helper()
		req := r.command(r.frame("338-orderly-json-req41.bin"))
		var body remoting.LockBatchRequestBody
		if err := body.Decode(req.Body); err != nil {
			t.Fatal(err)
		}
		body.ClientID = "192.0.2.9@other"
		req.Body = body.Encode()
		resp := invokeWith(t, newClient(t), r.tb.addr, req)
		var got remoting.LockBatchResponseBody
		if err := got.Decode(resp.Body); err != nil || resp.Code != 0 {
			t.Fatalf("another client's lock: %d %v", resp.Code, err)
		}
		return len(got.LockOKMQSet)
	}
	if n := other(); n != 0 {
		t.Fatalf("another client locked %d queues the recorded client holds", n)
	}
	r.send(consumer, "354-orderly-json-req42.bin")
	if n := other(); n != 5 {
		t.Errorf("after the unlock, another client locked %d of the 5 queues", n)
	}
}
