package faults

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// handler answers SUCCESS with remark "handled" and counts its calls.
func handler(calls *atomic.Int32) netpoll.Handler {
	return func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		calls.Add(1)
		return remoting.NewResponse(req, remoting.Success, "handled")
	}
}

func request(code remoting.RequestCode) *remoting.Command {
	return &remoting.Command{Code: int32(code), Opaque: 7, Language: remoting.LanguageGo, Version: 317}
}

func TestWrap(t *testing.T) {
	const code, other = remoting.SendMessageV2, remoting.PullMessage
	cases := []struct {
		name    string
		inject  func(i *Injector)
		code    remoting.RequestCode
		want    remoting.ResponseCode
		remark  string
		handled bool // the wrapped handler ran
		counted int  // Injected(code) afterwards
	}{
		{name: "no fault passes the request through", inject: func(*Injector) {},
			code: code, want: remoting.Success, remark: "handled", handled: true},
		{name: "failing a code answers its response code and remark instead", code: code,
			inject: func(i *Injector) { i.Fail(code, remoting.SystemError, "injected") },
			want:   remoting.SystemError, remark: "injected", counted: 1},
		{name: "busy answers SYSTEM_BUSY with Java's page cache remark", code: code,
			inject: func(i *Injector) { i.SystemBusy(code, true) },
			want:   remoting.SystemBusy, remark: BusyRemark, counted: 1},
		{name: "busy turned off passes the request through", code: code,
			inject: func(i *Injector) { i.SystemBusy(code, true); i.SystemBusy(code, false) },
			want:   remoting.Success, remark: "handled", handled: true},
		{name: "busy takes precedence over a failure", code: code,
			inject: func(i *Injector) { i.Fail(code, remoting.TopicNotExist, "x"); i.SystemBusy(code, true) },
			want:   remoting.SystemBusy, remark: BusyRemark, counted: 1},
		{name: "a fault on another code leaves this one alone", code: other,
			inject: func(i *Injector) { i.Fail(code, remoting.SystemError, "x"); i.Delay(code, time.Hour) },
			want:   remoting.Success, remark: "handled", handled: true},
		{name: "clear removes every fault", code: code,
			inject: func(i *Injector) {
				i.Fail(code, remoting.SystemError, "x")
				i.SystemBusy(code, true)
				i.Delay(code, time.Hour)
				i.Clear()
			},
			want: remoting.Success, remark: "handled", handled: true},
		{name: "a zero delay removes the delay", code: code,
			inject: func(i *Injector) { i.Delay(code, time.Hour); i.Delay(code, 0) },
			want:   remoting.Success, remark: "handled", handled: true},
		{name: "a delay is counted and then handled", code: code,
			inject: func(i *Injector) { i.Delay(code, time.Millisecond) },
			want:   remoting.Success, remark: "handled", handled: true, counted: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var i Injector
			tc.inject(&i)
			var calls atomic.Int32
			resp := i.Wrap(tc.code, handler(&calls))(context.Background(), nil, request(tc.code))
			if resp == nil {
				t.Fatal("no response")
			}
			if remoting.ResponseCode(resp.Code) != tc.want || resp.Remark != tc.remark {
				t.Errorf("got %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.want, tc.remark)
			}
			if resp.Opaque != 7 || !resp.IsResponse() {
				t.Errorf("response %v does not answer the request", resp)
			}
			if got := calls.Load() == 1; got != tc.handled {
				t.Errorf("handler ran: %v, want %v", got, tc.handled)
			}
			if got := i.Injected(tc.code); got != tc.counted {
				t.Errorf("Injected(%s) = %d, want %d", tc.code, got, tc.counted)
			}
		})
	}
}

func TestNilInjectorReturnsTheHandler(t *testing.T) {
	var i *Injector
	var calls atomic.Int32
	resp := i.Wrap(remoting.PullMessage, handler(&calls))(context.Background(), nil, request(remoting.PullMessage))
	if resp.Remark != "handled" || calls.Load() != 1 {
		t.Fatalf("nil injector changed the handling: %v", resp)
	}
}

func TestDelayHoldsTheRequest(t *testing.T) {
	var i Injector
	const d = 50 * time.Millisecond
	i.Delay(remoting.PullMessage, d)
	var calls atomic.Int32
	start := time.Now()
	resp := i.Wrap(remoting.PullMessage, handler(&calls))(context.Background(), nil, request(remoting.PullMessage))
	if waited := time.Since(start); waited < d {
		t.Errorf("answered after %v, want at least %v", waited, d)
	}
	if resp.Remark != "handled" {
		t.Errorf("response %v", resp)
	}
}

func TestDelayEndsWithTheServersContext(t *testing.T) {
	var i Injector
	i.Delay(remoting.PullMessage, time.Hour)
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *remoting.Command)
	go func() {
		done <- i.Wrap(remoting.PullMessage, handler(&calls))(ctx, nil, request(remoting.PullMessage))
	}()
	cancel()
	select {
	case resp := <-done:
		if resp != nil || calls.Load() != 0 {
			t.Fatalf("a delay cut short by shutdown answered %v (handler calls %d)", resp, calls.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the delay outlived its context")
	}
}

// TestChangesApplyToTheNextRequest changes faults while requests run; -race checks the
// locking.
func TestChangesApplyToTheNextRequest(t *testing.T) {
	var i Injector
	var calls atomic.Int32
	h := i.Wrap(remoting.SendMessageV2, handler(&calls))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					h(context.Background(), nil, request(remoting.SendMessageV2))
				}
			}
		})
	}
	for n := range 200 {
		i.SystemBusy(remoting.SendMessageV2, n%2 == 0)
		i.Fail(remoting.SendMessageV2, remoting.SystemError, "x")
		i.Delay(remoting.SendMessageV2, time.Duration(n%2)*time.Microsecond)
		_ = i.Injected(remoting.SendMessageV2)
		i.Clear()
	}
	close(stop)
	wg.Wait()
	i.Fail(remoting.SendMessageV2, remoting.NoPermission, "denied")
	if resp := h(context.Background(), nil, request(remoting.SendMessageV2)); resp.Code != int32(remoting.NoPermission) {
		t.Fatalf("a fault set after the others was not applied: %v", resp)
	}
}
