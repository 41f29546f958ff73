package producer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/leaktest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestLifecycle(t *testing.T) {
	check := leaktest.Check(t)
	ns, brokers := fakeCluster(t, "Life", 1, "a")
	b := brokers[0]
	release := make(chan struct{})
	b.setAnswer(func(req *remoting.Command) *remoting.Command {
		<-release
		return nil
	})
	i, err := instance.New(instanceConfig(ns.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(i, Config{Group: "life", Logger: discard, Coalesce: CoalesceConfig{Enabled: true},
		TransactionChecker: TransactionCheckerFunc(func(context.Context, *message.Ext) LocalTransactionState { return Unknown })})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(bg(t)); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(bg(t)); !errors.Is(err, instance.ErrNotRunning) && err == nil {
		t.Fatal("a second Start succeeded")
	}
	if i.Producer("life") != p {
		t.Fatal("the group is not registered")
	}
	if err := i.Start(bg(t)); err != nil {
		t.Fatal(err)
	}

	// Async sends in flight: Shutdown waits for their callbacks.
	const n = 5
	called := make(chan error, n)
	for range n {
		if err := p.SendAsync(bg(t), newMessage("Life", "x"), func(_ instance.SendResult, err error) { called <- err }); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first send at the broker", func() bool { return b.sends() >= 1 })
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(bg(t)) }()
	waitFor(t, "shutdown to refuse sends", func() bool { return p.checkRunning("x") != nil })
	if err := p.SendAsync(bg(t), newMessage("Life", "late"), func(instance.SendResult, error) {}); !errors.Is(err, instance.ErrNotRunning) {
		t.Fatalf("a send during shutdown: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with sends in flight", err)
	default:
	}
	close(release)
	for range n {
		if err := <-called; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if i.Producer("life") != nil {
		t.Fatal("the group is still registered")
	}
	if _, err := p.Send(bg(t), newMessage("Life", "after")); !errors.Is(err, instance.ErrNotRunning) {
		t.Fatalf("send after shutdown: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ns.Close()
	b.Close()
	check()
}

// Shutdown gives up waiting when its context ends.
func TestShutdownDeadline(t *testing.T) {
	ns, brokers := fakeCluster(t, "Stuck", 1, "a")
	release := make(chan struct{})
	brokers[0].setAnswer(func(req *remoting.Command) *remoting.Command {
		<-release
		return nil
	})
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{SendTimeout: time.Minute})
	t.Cleanup(func() { close(release) }) // first of the clean-ups: the send completes
	done := make(chan struct{})
	if err := p.SendAsync(bg(t), newMessage("Stuck", "x"), func(instance.SendResult, error) { close(done) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A message whose properties fit the limit only without what the producer adds (its
// unique id, a namespace's instance id) is refused before it is sent, with
// ErrMessageTooLarge, rather than failing at the broker.
func TestPropertiesLimitLeavesRoomForTheProducersOwn(t *testing.T) {
	for _, ns := range []string{"", "MQ_INST_1_ab"} {
		t.Run("namespace="+ns, func(t *testing.T) {
			wire := "Room"
			if ns != "" {
				wire = ns + "%Room"
			}
			nsrv, brokers := fakeCluster(t, wire, 1, "a")
			inst := startInstance(t, instanceConfig(nsrv.Addr()))
			p := startProducer(t, inst, Config{Namespace: ns})
			m := newMessage("Room", "body")
			m.Properties.Set("pad", "x")
			m.Properties.Set("pad", strings.Repeat("x", 1+32767-10-m.Properties.EncodedLen())) // 10 under the limit
			if err := m.Validate(0); err != nil {
				t.Fatalf("the message alone is valid: %v", err)
			}
			_, err := p.Send(bg(t), m)
			if !errors.Is(err, message.ErrMessageTooLarge) || brokers[0].sends() != 0 {
				t.Fatalf("Send = %v, %d requests; want ErrMessageTooLarge before sending", err, brokers[0].sends())
			}
			ok := newMessage("Room", "body")
			if _, err := p.Send(bg(t), ok); err != nil {
				t.Fatalf("a message well within the limit: %v", err)
			}
		})
	}
}
