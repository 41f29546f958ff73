package faults

import (
	"context"
	"sync"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Injector holds the faults in force. The zero value injects nothing; it is safe for
// concurrent use, and changes apply to the next request.
type Injector struct {
	mu     sync.RWMutex
	delays map[remoting.RequestCode]time.Duration
	fails  map[remoting.RequestCode]failure
	busy   map[remoting.RequestCode]bool
	count  map[remoting.RequestCode]int
}

type failure struct {
	code   remoting.ResponseCode
	remark string
}

// Delay holds every request with code for d before it is handled; d <= 0 removes it.
func (i *Injector) Delay(code remoting.RequestCode, d time.Duration) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.delays == nil {
		i.delays = map[remoting.RequestCode]time.Duration{}
	}
	if d <= 0 {
		delete(i.delays, code)
		return
	}
	i.delays[code] = d
}

// Fail answers every request with code with the response code and remark instead of
// handling it.
func (i *Injector) Fail(code remoting.RequestCode, with remoting.ResponseCode, remark string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.fails == nil {
		i.fails = map[remoting.RequestCode]failure{}
	}
	i.fails[code] = failure{code: with, remark: remark}
}

// SystemBusy makes requests with code answered SYSTEM_BUSY with the remark Java's broker
// uses when its page cache is busy, until turned off.
func (i *Injector) SystemBusy(code remoting.RequestCode, on bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.busy == nil {
		i.busy = map[remoting.RequestCode]bool{}
	}
	if on {
		i.busy[code] = true
	} else {
		delete(i.busy, code)
	}
}

// Clear removes every fault.
func (i *Injector) Clear() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.delays, i.fails, i.busy = nil, nil, nil
}

// Injected returns how many requests with code a fault has affected.
func (i *Injector) Injected(code remoting.RequestCode) int {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.count[code]
}

// BusyRemark is Java's remark for SYSTEM_BUSY when the broker's page cache is busy.
const BusyRemark = "[PCBUSY_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: 0ms, size of queue: 0"

// Wrap returns h with the faults for code applied first. A nil Injector returns h.
func (i *Injector) Wrap(code remoting.RequestCode, h netpoll.Handler) netpoll.Handler {
	if i == nil {
		return h
	}
	return func(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
		i.mu.RLock()
		d := i.delays[code]
		f, failing := i.fails[code]
		busy := i.busy[code]
		i.mu.RUnlock()
		if d > 0 || failing || busy {
			i.mu.Lock()
			if i.count == nil {
				i.count = map[remoting.RequestCode]int{}
			}
			i.count[code]++
			i.mu.Unlock()
		}
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
		}
		if busy {
			return remoting.NewResponse(req, remoting.SystemBusy, BusyRemark)
		}
		if failing {
			return remoting.NewResponse(req, f.code, f.remark)
		}
		return h(ctx, c, req)
	}
}
