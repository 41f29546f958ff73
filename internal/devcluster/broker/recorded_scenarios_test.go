package broker

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The push, ACL and rocketmq-client-go scenarios, replayed where the answers do not
// depend on what the recorded broker held from earlier runs (its queues had messages no
// recording shows, so the FOUND pulls of push-json and go-push-json are left out).

// replayerWith is a replayer for a broker started with edit.
func replayerWith(t *testing.T, edit func(*Config)) *replayer {
	return &replayer{t: t, tb: startBroker(t, edit), frames: recorded.MustLoad(t)}
}

func TestRecordedACLScenarioIsAnsweredAsJava(t *testing.T) {
	r := replayerWith(t, func(c *Config) { c.BrokerName = "broker-acl"; c.ACL = distributionACL() })
	// Unsigned: the sends and the heartbeat are refused (426-429); signed with the
	// recorded signatures: the send creates topicB and is stored (441), the unregisters
	// pass (442, 443).
	for _, f := range []string{"422-acl-json-req310.bin", "423-acl-json-req34.bin", "424-acl-json-req310.bin",
		"425-acl-json-req310.bin", "438-acl-json-req310.bin", "439-acl-json-req35.bin", "440-acl-json-req35.bin"} {
		r.send(r.tb.cl, f)
	}
	if n := len(r.tb.messagesIn("topicB", 3)); n != 1 {
		t.Errorf("%d messages stored in topicB/3, want the signed one", n)
	}
}

func TestRecordedPushScenarioIsAnsweredAsJava(t *testing.T) {
	r := &replayer{t: t, frames: recorded.MustLoad(t)}
	tb, fake := clockedBroker(t, func(c *Config) { c.BrokerName = "broker-tap" })
	r.tb = tb
	// The message the consumer fails to consume (086), at this broker's offset.
	resp := invokeWith(t, newClient(t), tb.addr, r.command(r.frame("086-send-rocketmq-req310.bin")))
	_, offset, err := message.ParseOffsetMsgID(resp.Ext.Get("msgId"))
	if err != nil {
		t.Fatal(err)
	}
	consumer := newClient(t)
	notes := watchNotifications(consumer)
	// Heartbeat, consumer list, the offsets of a new group, heartbeat again.
	for _, f := range []string{"169-push-json-req34.bin", "170-push-json-req38.bin", "171-push-json-req14.bin",
		"172-push-json-req14.bin", "173-push-json-req14.bin", "174-push-json-req14.bin", "175-push-json-req34.bin"} {
		r.send(consumer, f)
	}
	if g := notes.next(t, 5*time.Second); g != "rec_push_cg" {
		t.Errorf("notified %q", g)
	}
	// RECONSUME_LATER: the message goes back (187, its offset this broker's).
	back := r.command(r.frame("187-push-json-req36.bin"))
	back.Ext.Set("offset", strconv.FormatInt(offset, 10))
	r.compare(r.frame("227-push-json-resp0.bin"), invokeWith(t, consumer, tb.addr, back))
	// A pull of the retry queue with a subscription newer than the heartbeat's (229),
	// then heartbeats with it (230, 231).
	for _, f := range []string{"189-push-json-req11.bin", "190-push-json-req34.bin", "191-push-json-req34.bin"} {
		r.send(consumer, f)
	}
	// The retry is due after level 3; the retry queue's pull then finds it (236, whose
	// message TestSendBackStoresARetryAsJavaDoes compares field by field).
	if !fake.WaitForWaiters(2, 5*time.Second) {
		t.Fatal("the delay service does not wait for the retry")
	}
	fake.Advance(10 * time.Second)
	waitFor(t, "the retry", 5*time.Second, func() bool { return tb.store.MaxOffset("%RETRY%rec_push_cg", 0) == 1 })
	got := decodePull(t, invokeWith(t, consumer, tb.addr, r.command(r.frame("192-push-json-req11.bin"))))
	want := r.command(r.frame("236-push-json-resp0.bin"))
	if got.code != remoting.Success || len(got.msgs) != 1 || got.hdr.NextBeginOffset != 1 || got.msgs[0].ReconsumeTimes != 1 ||
		got.remark != want.Remark {
		t.Errorf("retry pull: %s %q %+v %d messages", got.code, got.remark, got.hdr, len(got.msgs))
	}
	// A second consumer joins: both are listed (Java's order is its channel map's).
	second := newClient(t)
	watchNotifications(second)
	r.send(second, "258-push-json-req34.bin")
	list := invokeWith(t, consumer, tb.addr, r.command(r.frame("193-push-json-req38.bin")))
	var ids, javaIDs remoting.ConsumerListBody
	if err := ids.Decode(list.Body); err != nil {
		t.Fatal(err)
	}
	if err := javaIDs.Decode(r.command(r.frame("233-push-json-resp0.bin")).Body); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids.ConsumerIDs)
	slices.Sort(javaIDs.ConsumerIDs)
	if !slices.Equal(ids.ConsumerIDs, javaIDs.ConsumerIDs) {
		t.Errorf("consumers %v, Java %v", ids.ConsumerIDs, javaIDs.ConsumerIDs)
	}
	// Both leave; the group is then empty (241, 243, 293, 294, 244).
	r.send(second, "276-push-json-req35.bin")
	r.send(second, "277-push-json-req35.bin")
	for _, f := range []string{"207-push-json-req35.bin", "210-push-json-req35.bin", "211-push-json-req38.bin"} {
		r.send(consumer, f)
	}
}

func TestRecordedGoClientScenariosAreAnsweredAsJava(t *testing.T) {
	r := recordedBroker(t)
	// go-send-json: a SEND_MESSAGE creating RecTopic, then a batch. Their queue offsets
	// were those of a broker holding earlier runs' messages: the rest is compared.
	producer := newClient(t)
	for _, f := range []string{"446-go-send-json-req10.bin", "447-go-send-json-req320.bin"} {
		req := r.frame(f)
		got := invokeWith(t, producer, r.tb.addr, r.command(req))
		want := r.command(r.answerOf(req))
		got.Ext.Set("queueOffset", want.Ext.Get("queueOffset"))
		r.compare(r.answerOf(req), got)
	}
	// go-push-json: heartbeat, consumer list, the offsets of a new group (480-492), and
	// the oneway offset updates, which are stored.
	consumer := newClient(t)
	watchNotifications(consumer)
	for _, f := range []string{"458-go-push-json-req34.bin", "459-go-push-json-req38.bin", "460-go-push-json-req14.bin",
		"461-go-push-json-req14.bin", "464-go-push-json-req14.bin", "467-go-push-json-req14.bin", "470-go-push-json-req34.bin",
		"473-go-push-json-req38.bin", "474-go-push-json-req34.bin"} {
		r.send(consumer, f)
	}
	for _, f := range []string{"475-go-push-json-req15.bin", "476-go-push-json-req15.bin", "477-go-push-json-req15.bin",
		"478-go-push-json-req15.bin"} {
		req := r.command(r.frame(f))
		if err := consumer.InvokeOneway(context.Background(), r.tb.addr, req); err != nil {
			t.Fatal(err)
		}
		var h remoting.UpdateConsumerOffsetRequest
		if err := h.DecodeFields(req.Ext); err != nil {
			t.Fatal(err)
		}
		waitFor(t, f+" stored", 5*time.Second, func() bool {
			return r.tb.b.offsets.query(h.ConsumerGroup, h.Topic, h.QueueID) == h.CommitOffset
		})
	}
}
