package producer

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The dev cluster (a NameServer and a broker faithful to 4.9.4) runs every send mode end to
// end: the stored messages are pulled back and compared with what was sent.

// userMessage is a message with a tag, keys and a user property.
func userMessage(topic, body string) *message.Message {
	m := newMessage(topic, body)
	m.SetTags("TagA")
	m.SetKeys("k1", "k2")
	m.Properties.Set("color", "blue")
	return m
}

// findStored pulls r's queue until the message with r's id is there and returns it.
func findStored(t testing.TB, inst *instance.Instance, addr string, topic string, r instance.SendResult) message.Ext {
	t.Helper()
	var found message.Ext
	waitFor(t, "message "+r.MsgID+" stored", func() bool {
		for _, m := range pullAll(t, inst, addr, topic, r.Queue.QueueID) {
			if m.UniqKey() == r.MsgID {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// checkStored compares a stored message with the one sent and its result.
func checkStored(t testing.TB, got message.Ext, sent *message.Message, r instance.SendResult) {
	t.Helper()
	if !bytes.Equal(got.Body, sent.Body) {
		t.Errorf("body %q, sent %q", got.Body, sent.Body)
	}
	for _, name := range []string{message.PropertyTags, message.PropertyKeys, "color", message.PropertyUniqKey} {
		if g, s := got.Properties.Get(name), sent.Properties.Get(name); g != s || s == "" && name != "color" {
			t.Errorf("property %s: stored %q, sent %q", name, g, s)
		}
	}
	if got.QueueOffset != r.QueueOffset || got.OffsetMsgID() != r.OffsetMsgID || got.QueueID != r.Queue.QueueID {
		t.Errorf("stored at queue %d offset %d id %s; result says queue %d offset %d id %s",
			got.QueueID, got.QueueOffset, got.OffsetMsgID(), r.Queue.QueueID, r.QueueOffset, r.OffsetMsgID)
	}
	if r.Status != instance.SendOK || r.MsgID != sent.UniqKey() || len(r.MsgID) != message.UniqIDLenV4 {
		t.Errorf("result %+v for message id %q", r, sent.UniqKey())
	}
}

func TestSendModesAgainstTheDevCluster(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{DelayFactor: 0.01})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	for _, coalesce := range []bool{false, true} {
		name := "alone"
		if coalesce {
			name = "coalescing"
		}
		t.Run(name, func(t *testing.T) {
			p := startProducer(t, inst, Config{Group: "pg_" + name, Coalesce: CoalesceConfig{Enabled: coalesce}})
			topic := "Modes_" + name
			t.Run("sync send stores the message intact", func(t *testing.T) {
				m := userMessage(topic, "sync")
				r, err := p.Send(bg(t), m)
				if err != nil {
					t.Fatal(err)
				}
				if r.Queue.Topic != topic || r.Queue.BrokerName != "broker-a" {
					t.Errorf("result queue %v", r.Queue)
				}
				checkStored(t, findStored(t, inst, c.BrokerAddr(), topic, r), m, r)
			})
			t.Run("async send calls back once with the result", func(t *testing.T) {
				m := userMessage(topic, "async")
				type out struct {
					r   instance.SendResult
					err error
				}
				done := make(chan out, 2)
				if err := p.SendAsync(bg(t), m, func(r instance.SendResult, err error) { done <- out{r, err} }); err != nil {
					t.Fatal(err)
				}
				o := <-done
				if o.err != nil {
					t.Fatal(o.err)
				}
				checkStored(t, findStored(t, inst, c.BrokerAddr(), topic, o.r), m, o.r)
				select {
				case o := <-done:
					t.Fatalf("called back twice: %+v", o)
				default:
				}
			})
			t.Run("oneway send stores the message", func(t *testing.T) {
				m := userMessage(topic, "oneway")
				if err := p.SendOneway(bg(t), m); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the oneway message", func() bool {
					for _, s := range pullTopic(t, inst, c.BrokerAddr(), topic, 4) {
						if s.UniqKey() == m.UniqKey() && string(s.Body) == "oneway" {
							return true
						}
					}
					return false
				})
			})
			t.Run("batch send gives each message its result", func(t *testing.T) {
				msgs := []*message.Message{userMessage(topic, "b0"), userMessage(topic, "b1"), userMessage(topic, "b2")}
				rs, err := p.SendBatch(bg(t), msgs)
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) != 3 {
					t.Fatalf("%d results", len(rs))
				}
				for i, r := range rs {
					if r.QueueOffset != rs[0].QueueOffset+int64(i) || r.Queue != rs[0].Queue {
						t.Errorf("result %d: %+v after %+v", i, r, rs[0])
					}
					checkStored(t, findStored(t, inst, c.BrokerAddr(), topic, r), msgs[i], r)
				}
			})
			t.Run("selector send goes to the queue chosen", func(t *testing.T) {
				m := userMessage(topic, "selected")
				sel := QueueSelectorFunc(func(qs []instance.MessageQueue, _ *message.Message, arg any) int {
					if len(qs) != 4 || qs[0].Topic != topic {
						return -1
					}
					return arg.(int)
				})
				r, err := p.SendWithSelector(bg(t), m, sel, 2)
				if err != nil {
					t.Fatal(err)
				}
				if r.Queue.QueueID != 2 {
					t.Fatalf("sent to queue %d", r.Queue.QueueID)
				}
				checkStored(t, findStored(t, inst, c.BrokerAddr(), topic, r), m, r)
				if _, err := p.SendWithSelector(bg(t), userMessage(topic, "x"), sel, 9); err == nil {
					t.Fatal("a selector's index out of range was sent")
				}
			})
			t.Run("orderly send keeps a key's messages in one queue, in order", func(t *testing.T) {
				var rs []instance.SendResult
				for i := range 5 {
					r, err := p.SendOrderly(bg(t), userMessage(topic, "o"+string(rune('0'+i))), "order-1")
					if err != nil {
						t.Fatal(err)
					}
					rs = append(rs, r)
				}
				want := int32(hashIndex(javaStringHash("order-1"), 4))
				for i, r := range rs {
					if r.Queue.QueueID != want || i > 0 && r.QueueOffset <= rs[i-1].QueueOffset {
						t.Fatalf("send %d: %+v (want queue %d, offsets rising)", i, r, want)
					}
				}
			})
			t.Run("delayed send arrives with its delay level", func(t *testing.T) {
				m := userMessage(topic, "delayed")
				m.SetDelayLevel(1)
				r, err := p.Send(bg(t), m)
				if err != nil {
					t.Fatal(err)
				}
				var got message.Ext
				waitFor(t, "the delayed message", func() bool {
					for _, s := range pullTopic(t, inst, c.BrokerAddr(), topic, 4) {
						if s.UniqKey() == r.MsgID {
							got = s
							return true
						}
					}
					return false
				})
				if string(got.Body) != "delayed" || got.Properties.Get(message.PropertyDelayTimeLevel) != "1" {
					t.Fatalf("stored %q with properties %q", got.Body, got.Properties.Encode())
				}
			})
			t.Run("a delay level a send hook sets is honoured among concurrent sends", func(t *testing.T) {
				hooked := startProducer(t, inst, Config{Group: "pg_hook_" + name, Coalesce: CoalesceConfig{Enabled: coalesce},
					Hooks: []instance.SendHook{delayHook("hook-delayed", "1")}})
				checkHookDelayAmongConcurrentSends(t, inst, c.BrokerAddr(), hooked, topic)
			})
		})
	}
}

// A topic no NameServer knows is sent through TBW102's route with DefaultTopicQueueNums
// queues, and the broker creates it.
func TestAutoCreateThroughTheDefaultTopic(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	p := startProducer(t, inst, Config{DefaultTopicQueueNums: 3})
	if _, err := inst.GetRouteInfo(bg(t), "NewTopic"); !errors.Is(err, instance.ErrTopicNotExist) {
		t.Fatalf("the topic exists before the first message: %v", err)
	}
	r, err := p.Send(bg(t), newMessage("NewTopic", "first"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Queue.QueueID < 0 || r.Queue.QueueID > 2 {
		t.Fatalf("sent to queue %d of 3", r.Queue.QueueID)
	}
	waitFor(t, "the new topic's route", func() bool {
		rt, err := inst.GetRouteInfo(bg(t), "NewTopic")
		return err == nil && len(rt.Queues) == 1 && rt.Queues[0].WriteQueueNums == 3
	})
	if got := p.PublishTopics(); !containsAll(got, "TBW102", "NewTopic") {
		t.Fatalf("publish topics %v", got)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// Bodies of CompressThreshold bytes or more are stored zlib-compressed (sysFlag 0x301) and
// decode to the original; smaller ones and batches are stored as they are.
func TestCompression(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	p := startProducer(t, inst, Config{Coalesce: CoalesceConfig{Enabled: true}})
	big := bytes.Repeat([]byte("compress me "), 500) // 6000 bytes
	for _, tc := range []struct {
		name       string
		body       []byte
		batch      bool
		compressed bool
	}{
		{"a body over 4 KiB is compressed", big, false, true},
		{"a body of exactly 4096 bytes is compressed", big[:4096], false, true},
		{"a body under 4 KiB is not", big[:4095], false, false},
		{"a batch is never compressed", big, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &message.Message{Topic: "Compressed", Body: tc.body}
			var r instance.SendResult
			var err error
			if tc.batch {
				var rs []instance.SendResult
				rs, err = p.SendBatch(bg(t), []*message.Message{m})
				if len(rs) == 1 {
					r = rs[0]
				}
			} else {
				r, err = p.Send(bg(t), m)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Body, tc.body) {
				t.Fatal("the caller's body was changed")
			}
			pr, err := inst.PullMessage(bg(t), c.BrokerAddr(), pullRequest("Compressed", r.Queue.QueueID, r.QueueOffset))
			if err != nil || pr.Status != instance.PullFound {
				t.Fatalf("pull: %v %v", pr.Status, err)
			}
			raw, err := (&message.Decoder{KeepCompressed: true}).DecodeStored(nil, pr.Body)
			if err != nil || len(raw) == 0 {
				t.Fatal(err)
			}
			const zlib = message.SysFlagCompressed | message.SysFlagCompressionZlib
			if got := raw[0].SysFlag&zlib == zlib; got != tc.compressed {
				t.Fatalf("stored sysFlag %#x, compressed %v", raw[0].SysFlag, got)
			}
			if tc.compressed && len(raw[0].Body) >= len(tc.body) {
				t.Fatalf("stored %d bytes for %d", len(raw[0].Body), len(tc.body))
			}
			dec, err := message.DecodeStored(pr.Body)
			if err != nil || !bytes.Equal(dec[0].Body, tc.body) {
				t.Fatalf("decoded body differs (%v)", err)
			}
		})
	}
}

// With a namespace, topics and the group go to the broker as "ns%name" and come back
// without it.
func TestNamespaceOnTheWire(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	p := startProducer(t, inst, Config{Group: "g", Namespace: "ns1"})
	if p.Group() != "ns1%g" {
		t.Fatalf("group %q", p.Group())
	}
	m := newMessage("Spaced", "in a namespace")
	r, err := p.Send(bg(t), m)
	if err != nil {
		t.Fatal(err)
	}
	if r.Queue.Topic != "Spaced" || m.Topic != "Spaced" {
		t.Fatalf("result topic %q, message topic %q", r.Queue.Topic, m.Topic)
	}
	got := findStored(t, inst, c.BrokerAddr(), "ns1%Spaced", r)
	if got.Topic != "ns1%Spaced" || got.Properties.Get(message.PropertyInstanceID) != "ns1" {
		t.Fatalf("stored in %q with INSTANCE_ID %q", got.Topic, got.Properties.Get(message.PropertyInstanceID))
	}
	rs, err := p.SendBatch(bg(t), []*message.Message{newMessage("Spaced", "b")})
	if err != nil || rs[0].Queue.Topic != "Spaced" {
		t.Fatalf("batch: %+v %v", rs, err)
	}
	if !containsAll(p.PublishTopics(), "ns1%Spaced") {
		t.Fatalf("publish topics %v", p.PublishTopics())
	}
}

// The broker's flow control (SYSTEM_BUSY) is reported at once, not retried; retryable
// answers are retried RetriesWhenSyncFailed times.
func TestBrokerRefusals(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	p := startProducer(t, inst, Config{})
	if _, err := p.Send(bg(t), newMessage("Refused", "warm up")); err != nil {
		t.Fatal(err)
	}
	f := c.Faults()
	t.Run("SYSTEM_BUSY fails at once with ErrSystemBusy", func(t *testing.T) {
		f.SystemBusy(remoting.SendMessageV2, true)
		defer f.Clear()
		before := f.Injected(remoting.SendMessageV2)
		_, err := p.Send(bg(t), newMessage("Refused", "busy"))
		if !errors.Is(err, instance.ErrSystemBusy) {
			t.Fatalf("error %v", err)
		}
		if n := f.Injected(remoting.SendMessageV2) - before; n != 1 {
			t.Fatalf("%d attempts", n)
		}
	})
	t.Run("SERVICE_NOT_AVAILABLE is tried three times", func(t *testing.T) {
		f.Fail(remoting.SendMessageV2, remoting.ServiceNotAvailable, "disk full")
		defer f.Clear()
		before := f.Injected(remoting.SendMessageV2)
		_, err := p.Send(bg(t), newMessage("Refused", "unavailable"))
		var se *SendError
		if !errors.As(err, &se) || se.Attempts != 3 || !errors.Is(err, instance.ErrServiceNotAvailable) {
			t.Fatalf("error %v", err)
		}
		if n := f.Injected(remoting.SendMessageV2) - before; n != 3 {
			t.Fatalf("%d attempts", n)
		}
	})
	t.Run("MESSAGE_ILLEGAL is not retried", func(t *testing.T) {
		f.Fail(remoting.SendMessageV2, remoting.MessageIllegal, "no")
		defer f.Clear()
		before := f.Injected(remoting.SendMessageV2)
		_, err := p.Send(bg(t), newMessage("Refused", "illegal"))
		if !errors.Is(err, instance.ErrMessageIllegal) || f.Injected(remoting.SendMessageV2)-before != 1 {
			t.Fatalf("error %v after %d attempts", err, f.Injected(remoting.SendMessageV2)-before)
		}
	})
	t.Run("after the fault clears the send goes through", func(t *testing.T) {
		if _, err := p.Send(bg(t), newMessage("Refused", "fine")); err != nil {
			t.Fatal(err)
		}
	})
}

// What callers branch on, end to end.
func TestSendErrors(t *testing.T) {
	no := false
	c := startDevCluster(t, devcluster.Config{AutoCreateTopic: &no})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	p := startProducer(t, inst, Config{MaxMessageSize: 1024})
	for _, tc := range []struct {
		name  string
		msg   *message.Message
		check func(error) bool
	}{
		{"an empty body is a validation error", newMessage("T", ""), func(err error) bool {
			var ve *message.ValidationError
			return errors.As(err, &ve)
		}},
		{"a body over MaxMessageSize is too large", &message.Message{Topic: "T", Body: make([]byte, 1025)}, func(err error) bool {
			return errors.Is(err, message.ErrMessageTooLarge)
		}},
		{"a forbidden topic is a validation error", newMessage("SCHEDULE_TOPIC_XXXX", "x"), func(err error) bool {
			return errors.Is(err, message.ErrInvalid)
		}},
		{"a topic nobody knows, without auto-creation, does not exist", newMessage("Unknown", "x"), func(err error) bool {
			return errors.Is(err, instance.ErrTopicNotExist)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Send(bg(t), tc.msg)
			if err == nil || !tc.check(err) {
				t.Fatalf("error %v", err)
			}
			if err := p.SendAsync(bg(t), tc.msg, func(instance.SendResult, error) { t.Error("called back") }); err == nil || !tc.check(err) {
				t.Fatalf("async error %v", err)
			}
		})
	}
	t.Run("an unknown topic is not kept for route refreshes", func(t *testing.T) {
		if containsAll(p.PublishTopics(), "Unknown") {
			t.Fatalf("publish topics %v", p.PublishTopics())
		}
	})
	t.Run("a producer not started refuses to send", func(t *testing.T) {
		q, err := New(inst, Config{Group: "idle", Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Send(bg(t), newMessage("T", "x")); !errors.Is(err, instance.ErrNotRunning) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("a cancelled context sends nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Send(ctx, newMessage("T", "x")); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("a deadline already past is a timeout", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := p.Send(ctx, newMessage("T", "x"))
		if !errors.Is(err, instance.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v", err)
		}
	})
}

func pullRequest(topic string, queue int32, offset int64) *remoting.PullRequest {
	return &remoting.PullRequest{ConsumerGroup: "ptest-cg", Topic: topic, QueueID: queue, QueueOffset: offset,
		MaxMsgNums: 1, SysFlag: remoting.PullFlagSubscription, Subscription: "*"}
}

// checkHookDelayAmongConcurrentSends sends eight messages at once through p, whose hooks
// give the one with body "hook-delayed" delay level 1, and checks that the broker at addr
// delayed it (it comes back from the schedule topic, keeping REAL_TOPIC) and stored the
// others at once.
func checkHookDelayAmongConcurrentSends(t *testing.T, inst *instance.Instance, addr string, p *Producer, topic string) {
	t.Helper()
	bodies := []string{"c0", "c1", "hook-delayed", "c2", "c3", "c4", "c5", "c6"}
	results := make([]instance.SendResult, len(bodies))
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() { results[i], errs[i] = p.Send(bg(t), userMessage(topic, body)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", bodies[i], err)
		}
	}
	for i, r := range results {
		var got message.Ext
		waitFor(t, bodies[i], func() bool {
			for _, s := range pullTopic(t, inst, addr, topic, 4) {
				if s.UniqKey() == r.MsgID {
					got = s
					return true
				}
			}
			return false
		})
		delayed := got.Properties.Get(message.PropertyRealTopic) == topic && got.Properties.Get(message.PropertyDelayTimeLevel) == "1"
		if delayed != (bodies[i] == "hook-delayed") {
			t.Fatalf("%s stored with properties %q", bodies[i], got.Properties.Encode())
		}
	}
}
