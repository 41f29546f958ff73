package broker

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestPullAnswersEveryStatusAsJava(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("P", 2)
	tb.send("P", 0, "a", props("TAGS", "TagA"))
	tb.send("P", 0, "b", props("TAGS", "TagB"))

	for _, tc := range []struct {
		name      string
		h         *remoting.PullRequest
		code      remoting.ResponseCode
		remark    string
		next      int64 // -1: no offsets in the answer
		min, max  int64
		wantTags  []string
		remarkHas string // when the remark depends on the connection
	}{
		{name: "pull of new messages answers FOUND with them and the next offset",
			h: pullHeader("g", "P", 0, 0, "*"), code: remoting.Success, remark: "FOUND", next: 2, max: 2,
			wantTags: []string{"TagA", "TagB"}},
		{name: "pull with a tag filter returns the matching messages only",
			h: pullHeader("g", "P", 0, 0, "TagB || TagC"), code: remoting.Success, remark: "FOUND", next: 2, max: 2,
			wantTags: []string{"TagB"}},
		{name: "pull whose filter matches nothing answers NO_MATCHED_MESSAGE",
			h: pullHeader("g", "P", 0, 0, "TagX"), code: remoting.PullRetryImmediately, remark: "NO_MATCHED_MESSAGE", next: 2, max: 2},
		{name: "pull at the max offset answers OFFSET_OVERFLOW_ONE",
			h: pullHeader("g", "P", 0, 2, "*"), code: remoting.PullNotFound, remark: "OFFSET_OVERFLOW_ONE", next: 2, max: 2},
		{name: "pull beyond the max offset answers OFFSET_OVERFLOW_BADLY with the max as next",
			h: pullHeader("g", "P", 0, 1001, "*"), code: remoting.PullOffsetMoved, remark: "OFFSET_OVERFLOW_BADLY", next: 2, max: 2},
		{name: "pull of an empty queue from 0 answers NO_MESSAGE_IN_QUEUE as not found",
			h: pullHeader("g", "P", 1, 0, "*"), code: remoting.PullNotFound, remark: "NO_MESSAGE_IN_QUEUE", next: 0},
		{name: "pull of an empty queue from elsewhere answers NO_MESSAGE_IN_QUEUE as offset moved",
			h: pullHeader("g", "P", 1, 5, "*"), code: remoting.PullOffsetMoved, remark: "NO_MESSAGE_IN_QUEUE", next: 0},
		{name: "pull of a negative number of messages fails as Java's new ArrayList(maxMsgNums)",
			h: func() *remoting.PullRequest {
				h := pullHeader("g", "P", 0, 0, "*")
				h.MaxMsgNums = -1
				return h
			}(), code: remoting.SystemError, next: -1, remark: illegalCapacityRemark(-1)},
		{name: "pull of a negative number of messages at the max offset answers OFFSET_OVERFLOW_ONE",
			h: func() *remoting.PullRequest {
				h := pullHeader("g", "P", 0, 2, "*")
				h.MaxMsgNums = -1
				return h
			}(), code: remoting.PullNotFound, remark: "OFFSET_OVERFLOW_ONE", next: 2, max: 2},
		{name: "pull of a queue the topic does not have answers SYSTEM_ERROR",
			h: pullHeader("g", "P", 2, 0, "*"), code: remoting.SystemError, next: -1,
			remarkHas: "queueId[2] is illegal, topic:[P] topicConfig.readQueueNums:[2] consumer:[/127.0.0.1:"},
		{name: "pull of an unknown topic answers TOPIC_NOT_EXIST",
			h: pullHeader("g", "Nope", 0, 0, "*"), code: remoting.TopicNotExist, next: -1,
			remark: "topic[Nope] not exist, apply first please! \nSee http://rocketmq.apache.org/docs/faq/ for further details."},
		{name: "pull of a subscription of separators only answers SUBSCRIPTION_PARSE_FAILED",
			h: pullHeader("g", "P", 0, 0, "||"), code: remoting.SubscriptionParseFailed, next: -1,
			remark: "parse the consumer's subscription failed"},
		{name: "pull with an SQL92 subscription answers SYSTEM_ERROR (no property filter)",
			h: func() *remoting.PullRequest {
				h := pullHeader("g", "P", 0, 0, "a > 1")
				h.ExpressionType = "SQL92"
				return h
			}(), code: remoting.SystemError, next: -1, remark: "The broker does not support consumer to filter message by SQL92"},
		{name: "pull relying on the heartbeat of a group that sent none answers SUBSCRIPTION_NOT_EXIST",
			h: func() *remoting.PullRequest {
				h := pullHeader("g", "P", 0, 0, "")
				h.SysFlag = 0
				return h
			}(), code: remoting.SubscriptionNotExist, next: -1,
			remark: "the consumer's group info not exist\nSee http://rocketmq.apache.org/docs/faq/ for further details."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tb.pull(tc.h)
			if got.code != tc.code {
				t.Errorf("code %s, want %s (%q)", got.code, tc.code, got.remark)
			}
			if tc.remarkHas != "" {
				if !strings.Contains(got.remark, tc.remarkHas) {
					t.Errorf("remark %q, want it to contain %q", got.remark, tc.remarkHas)
				}
			} else if got.remark != tc.remark {
				t.Errorf("remark %q, want %q", got.remark, tc.remark)
			}
			if tc.next >= 0 && (got.hdr.NextBeginOffset != tc.next || got.hdr.MinOffset != tc.min || got.hdr.MaxOffset != tc.max) {
				t.Errorf("next %d min %d max %d, want %d %d %d", got.hdr.NextBeginOffset, got.hdr.MinOffset,
					got.hdr.MaxOffset, tc.next, tc.min, tc.max)
			}
			var tags []string
			for _, m := range got.msgs {
				tags = append(tags, m.Tags())
			}
			if strings.Join(tags, ",") != strings.Join(tc.wantTags, ",") {
				t.Errorf("messages with tags %v, want %v", tags, tc.wantTags)
			}
		})
	}
}

func TestPullBelowTheMinOffsetAnswersOffsetTooSmall(t *testing.T) {
	// Tiny segments and a small commit log: the first messages are dropped by retention.
	tb := startBroker(t, func(c *Config) {
		st, err := store.Open(store.Config{StoreHost: netip.MustParseAddrPort(c.Listener.Addr().String()), SegmentSize: 4096, MaxBytes: 8192, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		c.Store = st
	})
	tb.createTopic("R", 1)
	body := strings.Repeat("x", 900)
	for i := 0; i < 40; i++ {
		tb.send("R", 0, body, "")
	}
	minOff := tb.store.MinOffset("R", 0)
	if minOff == 0 {
		t.Fatal("retention dropped nothing")
	}
	got := tb.pull(pullHeader("g", "R", 0, 0, "*"))
	if got.code != remoting.PullOffsetMoved || got.remark != "OFFSET_TOO_SMALL" || got.hdr.NextBeginOffset != minOff {
		t.Errorf("pull below min: %s %q next %d, want PULL_OFFSET_MOVED OFFSET_TOO_SMALL %d", got.code, got.remark,
			got.hdr.NextBeginOffset, minOff)
	}
	// A group that never committed an offset of a queue whose start is gone: Java cannot
	// tell where it should begin.
	q := tb.invoke(request(remoting.QueryConsumerOffset, &remoting.QueryConsumerOffsetRequest{ConsumerGroup: "g", Topic: "R"}))
	if q.Code != int32(remoting.QueryNotFound) || q.Remark != "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first" {
		t.Errorf("query offset: %d %q", q.Code, q.Remark)
	}
}

func TestPullAnsweringOffsetMovedRecordsAnOffsetMovedEvent(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("P", 1)
	tb.send("P", 0, "a", "")
	tb.pull(pullHeader("moved_cg", "P", 0, 10, "*"))
	ev := tb.pull(pullHeader("g", message.SystemTopicOffsetMovedEvent, 0, 0, "*"))
	if len(ev.msgs) != 1 {
		t.Fatalf("OFFSET_MOVED_EVENT holds %d messages", len(ev.msgs))
	}
	m := ev.msgs[0]
	want := `{"consumerGroup":"moved_cg","messageQueue":{"brokerName":"broker-a","queueId":0,"topic":"P"},"offsetNew":1,"offsetRequest":10}`
	if string(m.Body) != want || m.Tags() != "moved_cg" || m.Keys() != "moved_cg" {
		t.Errorf("event %q tags %q keys %q", m.Body, m.Tags(), m.Keys())
	}
}

func TestPullUsesTheHeartbeatSubscription(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("P", 1)
	tb.send("P", 0, "a", props("TAGS", "TagA"))
	tb.send("P", 0, "b", props("TAGS", "TagB"))
	heartbeat(t, tb.cl, tb.addr, "c1", pushConsumer(t, "hb_cg", "P", "TagB"))
	h := pullHeader("hb_cg", "P", 0, 0, "")
	h.SysFlag = 0
	h.SubVersion = 1
	got := tb.pull(h)
	if got.code != remoting.Success || len(got.msgs) != 1 || got.msgs[0].Tags() != "TagB" {
		t.Fatalf("pull by heartbeat subscription: %s %q %d messages", got.code, got.remark, len(got.msgs))
	}
	h.SubVersion = 2 // the client subscribed again since its last heartbeat
	if got := tb.pull(h); got.code != remoting.SubscriptionNotLatest || got.remark != "the consumer's subscription not latest" {
		t.Errorf("newer subscription: %s %q", got.code, got.remark)
	}
	h.SubVersion = 1
	h.Topic = "%RETRY%hb_cg" // created by the heartbeat, not subscribed
	if got := tb.pull(h); got.code != remoting.SubscriptionNotExist {
		t.Errorf("topic without subscription: %s %q", got.code, got.remark)
	}
}

func TestPullOfAnUnknownGroupWithoutAutoCreationAnswersGroupNotExist(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.AutoCreateSubscriptionGroup = ptr(false) })
	tb.createTopic("P", 1)
	got := tb.pull(pullHeader("unknown_cg", "P", 0, 0, "*"))
	want := "subscription group [unknown_cg] does not exist, \nSee http://rocketmq.apache.org/docs/faq/ for further details."
	if got.code != remoting.SubscriptionGroupNotExist || got.remark != want {
		t.Errorf("%s %q", got.code, got.remark)
	}
}

func TestPullCommitsTheOffsetItCarries(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("P", 1)
	h := pullHeader("commit_cg", "P", 0, 0, "*")
	h.SysFlag |= remoting.PullFlagCommitOffset
	h.CommitOffset = 7
	tb.pull(h)
	if off := tb.b.offsets.query("commit_cg", "P", 0); off != 7 {
		t.Errorf("committed offset %d, want 7", off)
	}
}

// asyncPull sends a pull and returns the channel its answer comes on; a failed request
// gives a result with code -1 and the error as remark.
func (tb *testBroker) asyncPull(h *remoting.PullRequest) (<-chan pullResult, time.Time) {
	tb.t.Helper()
	ch := make(chan pullResult, 1)
	start := time.Now()
	err := tb.cl.InvokeAsync(context.Background(), tb.addr, request(remoting.PullMessage, h), func(resp *remoting.Command, err error) {
		if err != nil {
			ch <- pullResult{code: -1, remark: err.Error()}
			return
		}
		ch <- decodePull(tb.t, resp)
	})
	if err != nil {
		tb.t.Fatal(err)
	}
	return ch, start
}

func suspended(h *remoting.PullRequest, timeout time.Duration) *remoting.PullRequest {
	h.SysFlag |= remoting.PullFlagSuspend
	h.SuspendTimeoutMillis = timeout.Milliseconds()
	return h
}

func TestLongPollIsWokenByASend(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("L", 1)
	ch, _ := tb.asyncPull(suspended(pullHeader("lp_cg", "L", 0, 0, "*"), 20*time.Second))
	waitFor(t, "the pull held", 5*time.Second, func() bool { return tb.b.holds.held() == 1 })
	sent := time.Now()
	tb.send("L", 0, "wake up", "")
	select {
	case got := <-ch:
		if got.code != remoting.Success || len(got.msgs) != 1 || string(got.msgs[0].Body) != "wake up" || got.hdr.NextBeginOffset != 1 {
			t.Fatalf("woken pull: %s %q %+v", got.code, got.remark, got.hdr)
		}
		if d := time.Since(sent); d > 2*time.Second {
			t.Errorf("answered %v after the send", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held pull was not woken by the send")
	}
	if n := tb.b.holds.held(); n != 0 {
		t.Errorf("%d pulls still held", n)
	}
}

func TestLongPollIsWokenOnlyByMatchingMessages(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("L", 1)
	ch, _ := tb.asyncPull(suspended(pullHeader("lp_cg", "L", 0, 0, "TagB"), 20*time.Second))
	waitFor(t, "the pull held", 5*time.Second, func() bool { return tb.b.holds.held() == 1 })
	tb.send("L", 0, "not for me", props("TAGS", "TagA"))
	select {
	case got := <-ch:
		t.Fatalf("woken by a message its filter does not match: %s %q", got.code, got.remark)
	default:
	}
	if tb.b.holds.held() != 1 {
		t.Fatal("the pull is no longer held")
	}
	tb.send("L", 0, "mine", props("TAGS", "TagB"))
	select {
	case got := <-ch:
		if got.code != remoting.Success || len(got.msgs) != 1 || string(got.msgs[0].Body) != "mine" || got.hdr.NextBeginOffset != 2 {
			t.Fatalf("woken pull: %s %q %d messages", got.code, got.remark, len(got.msgs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by a matching message")
	}
}

func TestLongPollTimesOutWithNotFoundAtItsDeadline(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("L", 1)
	const timeout = 300 * time.Millisecond
	ch, start := tb.asyncPull(suspended(pullHeader("lp_cg", "L", 0, 0, "*"), timeout))
	select {
	case got := <-ch:
		waited := time.Since(start)
		if got.code != remoting.PullNotFound || got.remark != "NO_MESSAGE_IN_QUEUE" {
			t.Errorf("timed out pull: %s %q", got.code, got.remark)
		}
		if waited < timeout || waited > timeout+2*time.Second {
			t.Errorf("answered after %v, suspend timeout %v", waited, timeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held pull was never answered")
	}
}

func TestLongPollsAreReleasedWhenTheirConnectionCloses(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("L", 2)
	for q := range int32(2) {
		tb.asyncPull(suspended(pullHeader("lp_cg", "L", q, 0, "*"), 20*time.Second))
	}
	waitFor(t, "two pulls held", 5*time.Second, func() bool { return tb.b.holds.held() == 2 })
	tb.cl.CloseConn(tb.addr)
	waitFor(t, "the held pulls released", 5*time.Second, func() bool { return tb.b.holds.held() == 0 })
	// The broker goes on serving, the queue wakes nobody.
	tb.send("L", 0, "after", "")
}

func TestPullWithAnEmptyExpressionTypeFiltersAsJava(t *testing.T) {
	// FilterAPI.build parses tags only for the type TAG or null: an empty type keeps the
	// expression unparsed, with an empty code set, which matches no tag but "*" matches
	// all; an empty expression fails to parse. As the reference 4.9.4 broker answered.
	tb := startBroker(t, nil)
	tb.createTopic("P", 1)
	tb.send("P", 0, "a", props("TAGS", "TagA"))
	for _, tc := range []struct {
		sub    string
		code   remoting.ResponseCode
		remark string
		msgs   int
	}{
		{"TagA", remoting.PullRetryImmediately, "NO_MATCHED_MESSAGE", 0},
		{"*", remoting.Success, "FOUND", 1},
		{"", remoting.SubscriptionParseFailed, "parse the consumer's subscription failed", 0},
	} {
		req := &remoting.Command{Code: int32(remoting.PullMessage), Version: remoting.Version494}
		for _, kv := range [][2]string{{"consumerGroup", "g"}, {"topic", "P"}, {"queueId", "0"}, {"queueOffset", "0"},
			{"maxMsgNums", "32"}, {"sysFlag", "4"}, {"commitOffset", "0"}, {"suspendTimeoutMillis", "0"},
			{"subscription", tc.sub}, {"subVersion", "0"}, {"expressionType", ""}} {
			req.Ext = append(req.Ext, remoting.Field{Key: kv[0], Value: kv[1]})
		}
		got := decodePull(t, tb.invoke(req))
		if got.code != tc.code || got.remark != tc.remark || len(got.msgs) != tc.msgs {
			t.Errorf("subscription %q: %s %q with %d messages, want %s %q with %d", tc.sub, got.code, got.remark,
				len(got.msgs), tc.code, tc.remark, tc.msgs)
		}
	}
}
