package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// recordingHook records its calls in a shared log, and may reject messages, set a
// property or fail.
type recordingHook struct {
	name   string
	log    *callLog
	reject func(m *message.Message) string
	fail   error
	set    [2]string
}

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *callLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func (h *recordingHook) Name() string { return h.name }

func (h *recordingHook) BeforeSend(_ context.Context, evs []instance.SendEvent) error {
	for i := range evs {
		ev := &evs[i]
		h.log.add(fmt.Sprintf("%s.before %s %s@%s", h.name, ev.Message.Body, ev.Queue.BrokerName, ev.BrokerAddr))
		if h.reject != nil && ev.Reject == "" {
			ev.Reject = h.reject(ev.Message)
		}
		if h.set[0] != "" {
			ev.Message.Properties.Set(h.set[0], h.set[1])
		}
	}
	return h.fail
}

func (h *recordingHook) AfterSend(_ context.Context, evs []instance.SendEvent) {
	for _, ev := range evs {
		switch {
		case ev.Err != nil:
			h.log.add(fmt.Sprintf("%s.after %s err", h.name, ev.Message.Body))
		case ev.Result != nil:
			h.log.add(fmt.Sprintf("%s.after %s ok %s", h.name, ev.Message.Body, ev.Result.MsgID))
		default:
			h.log.add(fmt.Sprintf("%s.after %s nothing", h.name, ev.Message.Body))
		}
	}
}

func TestSendHooks(t *testing.T) {
	ns, brokers := fakeCluster(t, "Hooked", 1, "a")
	b := brokers[0]
	inst := startInstance(t, instanceConfig(ns.Addr()))
	at := "a@" + b.Addr()

	t.Run("hooks run in order around the send and may set properties", func(t *testing.T) {
		log := &callLog{}
		p := startProducer(t, inst, Config{Group: "order", Hooks: []instance.SendHook{
			&recordingHook{name: "h1", log: log, set: [2]string{"x-trace", "abc"}},
			&recordingHook{name: "h2", log: log}}})
		m := newMessage("Hooked", "m1")
		r, err := p.Send(bg(t), m)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"h1.before m1 " + at, "h2.before m1 " + at, "h1.after m1 ok " + r.MsgID, "h2.after m1 ok " + r.MsgID}
		if got := log.get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
		req := b.Requests(remoting.SendMessageV2)
		var h remoting.SendRequestV2
		_ = h.DecodeFields(req[len(req)-1].Ext)
		props := message.ParseProperties(h.Properties)
		if props.Get("x-trace") != "abc" || props.Get(message.PropertyUniqKey) != r.MsgID {
			t.Fatalf("sent properties %q", h.Properties)
		}
	})

	t.Run("a rejected message is not sent nor retried", func(t *testing.T) {
		log := &callLog{}
		p := startProducer(t, inst, Config{Group: "reject", Hooks: []instance.SendHook{
			&recordingHook{name: "h1", log: log},
			&recordingHook{name: "censor", log: log, reject: func(*message.Message) string { return "not today" }}}})
		before := b.sends()
		_, err := p.Send(bg(t), newMessage("Hooked", "m2"))
		var re *instance.RejectedError
		if !errors.As(err, &re) || re.Hook != "censor" || re.Reason != "not today" {
			t.Fatalf("error %#v", err)
		}
		if b.sends() != before {
			t.Fatal("a rejected message was sent")
		}
		want := []string{"h1.before m2 " + at, "censor.before m2 " + at, "h1.after m2 err", "censor.after m2 err"}
		if got := log.get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
	})

	t.Run("a hook error fails the send, every hook still sees the outcome", func(t *testing.T) {
		log := &callLog{}
		boom := errors.New("plugin trapped")
		p := startProducer(t, inst, Config{Group: "boom", Hooks: []instance.SendHook{
			&recordingHook{name: "h1", log: log, fail: boom},
			&recordingHook{name: "h2", log: log}}})
		before := b.sends()
		_, err := p.Send(bg(t), newMessage("Hooked", "m3"))
		var he *HookError
		if !errors.As(err, &he) || he.Hook != "h1" || !errors.Is(err, boom) {
			t.Fatalf("error %#v", err)
		}
		if b.sends() != before {
			t.Fatal("sent despite the hook error")
		}
		want := []string{"h1.before m3 " + at, "h1.after m3 err", "h2.after m3 err"}
		if got := log.get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
	})

	t.Run("a rejected message of a batch is left out, the others sent", func(t *testing.T) {
		log := &callLog{}
		p := startProducer(t, inst, Config{Group: "batch", Hooks: []instance.SendHook{
			&recordingHook{name: "h", log: log, reject: func(m *message.Message) string {
				if string(m.Body) == "b1" {
					return "b1 is bad"
				}
				return ""
			}}}})
		msgs := []*message.Message{newMessage("Hooked", "b0"), newMessage("Hooked", "b1"), newMessage("Hooked", "b2")}
		rs, err := p.SendBatch(bg(t), msgs)
		var be *BatchError
		var re *instance.RejectedError
		if !errors.As(err, &be) || be.Errs[0] != nil || be.Errs[2] != nil || !errors.As(be.Errs[1], &re) || !errors.As(err, &re) {
			t.Fatalf("error %#v", err)
		}
		if rs[0].MsgID != msgs[0].UniqKey() || rs[2].MsgID != msgs[2].UniqKey() || rs[1].MsgID != "" ||
			rs[2].QueueOffset != rs[0].QueueOffset+1 {
			t.Fatalf("results %+v", rs)
		}
		reqs := b.Requests(remoting.SendBatchMessage)
		sent, _ := message.DecodeBatch(reqs[len(reqs)-1].Body)
		if len(sent) != 2 || string(sent[0].Body) != "b0" || string(sent[1].Body) != "b2" {
			t.Fatalf("batch sent %d messages", len(sent))
		}
		got := log.get()
		if len(got) != 6 || got[4] != "h.after b1 err" || got[3] != "h.after b0 ok "+rs[0].MsgID {
			t.Fatalf("calls %q", got)
		}
	})

	t.Run("a delay level a hook gives a message of a batch refuses that message", func(t *testing.T) {
		p := startProducer(t, inst, Config{Group: "batchdelay", Hooks: []instance.SendHook{delayHook("b1", "3")}})
		msgs := []*message.Message{newMessage("Hooked", "b0"), newMessage("Hooked", "b1"), newMessage("Hooked", "b2")}
		before := len(b.Requests(remoting.SendBatchMessage))
		_, err := p.SendBatch(bg(t), msgs)
		var be *BatchError
		var ve *message.ValidationError
		if !errors.As(err, &be) || be.Errs[0] != nil || be.Errs[2] != nil || !errors.As(be.Errs[1], &ve) || ve.Field != "messages[1].delay" {
			t.Fatalf("error %v", err)
		}
		reqs := b.Requests(remoting.SendBatchMessage)
		if len(reqs) != before+1 {
			t.Fatalf("%d batches sent", len(reqs)-before)
		}
		sent, _ := message.DecodeBatch(reqs[len(reqs)-1].Body)
		if len(sent) != 2 || string(sent[0].Body) != "b0" || string(sent[1].Body) != "b2" {
			t.Fatalf("batch sent %d messages", len(sent))
		}
	})

	t.Run("a retry is a new attempt the hooks see", func(t *testing.T) {
		log := &callLog{}
		p := startProducer(t, inst, Config{Group: "retry", Hooks: []instance.SendHook{&recordingHook{name: "h", log: log}}})
		var once sync.Once
		b.setAnswer(func(req *remoting.Command) *remoting.Command {
			var resp *remoting.Command
			once.Do(func() { resp = remoting.NewResponse(req, remoting.SystemError, "once") })
			return resp
		})
		defer b.setAnswer(nil)
		r, err := p.Send(bg(t), newMessage("Hooked", "m4"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"h.before m4 " + at, "h.after m4 err", "h.before m4 " + at, "h.after m4 ok " + r.MsgID}
		if got := log.get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("calls %q, want %q", got, want)
		}
	})
}

// With coalescing, the hooks see a whole batch at once; a rejected caller fails alone.
func TestSendHooksOnACoalescedBatch(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	hook := hookFunc(func(evs []instance.SendEvent) {
		mu.Lock()
		sizes = append(sizes, len(evs))
		mu.Unlock()
		for i := range evs {
			if string(evs[i].Message.Body) == "bad" {
				evs[i].Reject = "bad body"
			}
			evs[i].Message.Properties.Set("seen", "yes")
		}
	})
	h := holdQueue(t, "HookedBatch", Config{Hooks: []instance.SendHook{hook}})
	p, b := h.p, h.b
	bodies := []string{"ok0", "bad", "ok1", "ok2"}
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		wg.Go(func() { _, errs[i] = p.Send(bg(t), newMessage("HookedBatch", body)) })
	}
	h.waitInLine(4)
	h.releaseFirst()
	wg.Wait()
	for i, err := range errs {
		var re *instance.RejectedError
		if bodies[i] == "bad" != errors.As(err, &re) || bodies[i] != "bad" && err != nil {
			t.Fatalf("%s: %v", bodies[i], err)
		}
	}
	reqs := b.Requests(remoting.SendBatchMessage)
	if len(reqs) != 1 {
		t.Fatalf("%d batches", len(reqs))
	}
	sent, _ := message.DecodeBatch(reqs[0].Body)
	if len(sent) != 3 || sent[0].Properties.Get("seen") != "yes" {
		t.Fatalf("batch of %d", len(sent))
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[1 4]" {
		t.Fatalf("BeforeSend saw batches of %v", sizes)
	}
}

// delayHook gives the messages with body the delay level level.
func delayHook(body, level string) hookFunc {
	return func(evs []instance.SendEvent) {
		for i := range evs {
			if string(evs[i].Message.Body) == body {
				evs[i].Message.Properties.Set(message.PropertyDelayTimeLevel, level)
			}
		}
	}
}

// TestADelayAHookSetsIsHonouredWhenCoalesced: a message coalesced with others, which a
// send hook gives a delay level, is taken out of the batch (which would store it at
// once) and sent on its own with the level, its AfterSend seeing its own outcome, once.
func TestADelayAHookSetsIsHonouredWhenCoalesced(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run(map[bool]string{false: "sync", true: "async"}[async], func(t *testing.T) {
			topic := "HookDelay" + map[bool]string{false: "Sync", true: "Async"}[async]
			log := &callLog{}
			h := holdQueue(t, topic, Config{Hooks: []instance.SendHook{delayHook("late", "3"), &recordingHook{name: "h", log: log}}})
			p, b := h.p, h.b

			bodies := []string{"ok0", "late", "ok1"}
			results := make([]instance.SendResult, len(bodies))
			errs := make([]error, len(bodies))
			var wg sync.WaitGroup
			for i, body := range bodies {
				wg.Add(1)
				if async {
					err := p.SendAsync(bg(t), newMessage(topic, body), func(r instance.SendResult, err error) {
						results[i], errs[i] = r, err
						wg.Done()
					})
					if err != nil {
						t.Fatal(err)
					}
					continue
				}
				go func() {
					defer wg.Done()
					results[i], errs[i] = p.Send(bg(t), newMessage(topic, body))
				}()
			}
			h.waitInLine(3)
			h.releaseFirst()
			wg.Wait()
			for i, err := range errs {
				if err != nil || results[i].MsgID == "" {
					t.Fatalf("%s: %+v, %v", bodies[i], results[i], err)
				}
			}

			batches := b.Requests(remoting.SendBatchMessage)
			if len(batches) != 1 {
				t.Fatalf("%d batches", len(batches))
			}
			inBatch, _ := message.DecodeBatch(batches[0].Body)
			var carried []string // in line order, which the sync callers' goroutines decide
			for _, m := range inBatch {
				carried = append(carried, string(m.Body))
			}
			if slices.Sort(carried); fmt.Sprint(carried) != "[ok0 ok1]" {
				t.Fatalf("the batch carried %q", carried)
			}
			singles := b.Requests(remoting.SendMessageV2)
			if len(singles) != 2 { // first, late
				t.Fatalf("%d single sends", len(singles))
			}
			var header remoting.SendRequestV2
			_ = header.DecodeFields(singles[1].Ext)
			props := message.ParseProperties(header.Properties)
			if string(singles[1].Body) != "late" || props.Get(message.PropertyDelayTimeLevel) != "3" ||
				props.Get(message.PropertyUniqKey) != results[1].MsgID || header.Batch {
				t.Fatalf("sent alone: %q with properties %q", singles[1].Body, header.Properties)
			}

			var afterLate []string
			for _, c := range log.get() {
				if strings.HasPrefix(c, "h.after late") {
					afterLate = append(afterLate, c)
				}
			}
			if want := "h.after late ok " + results[1].MsgID; len(afterLate) != 1 || afterLate[0] != want {
				t.Fatalf("AfterSend of the delayed message: %q, want %q", afterLate, want)
			}
		})
	}
}

type hookFunc func(evs []instance.SendEvent)

func (f hookFunc) BeforeSend(_ context.Context, evs []instance.SendEvent) error { f(evs); return nil }
func (hookFunc) AfterSend(context.Context, []instance.SendEvent)                {}
