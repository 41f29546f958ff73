package producer

import (
	"context"
	"reflect"
	"strconv"

	"github.com/mqgate/mqgate/instance"
)

// Send hooks run around every attempt, as Java's executeSendMessageHookBefore/After run
// around sendKernelImpl: BeforeSend after the queue is chosen, on the messages of the
// request about to be built (one for a single send, all of a batch, every caller's of a
// coalesced batch), through a slice the producer reuses (do not keep it); AfterSend with
// each message's result or error.
//
// Rules:
//   - Hooks run in the order of Config.Hooks, on the goroutine that builds the request.
//   - A message given a Reject reason is not sent; its send fails with a
//     *instance.RejectedError, not retried. The other messages of the request go on.
//   - A BeforeSend error stops the hooks after it and fails the send of every message of
//     the request with a *HookError, not retried (the hook is broken, not the broker).
//   - Every hook's AfterSend sees every message that went through BeforeSend, whatever
//     happened: results, broker errors, rejections and hook failures. A hook that opened
//     something (a span) in BeforeSend can always close it.
//   - A retry is a new attempt: the hooks see it again, on its new queue.

// hookName names a hook in errors: its Name() when it has one, else its type and position.
func hookName(h instance.SendHook, i int) string {
	if n, ok := h.(interface{ Name() string }); ok {
		return n.Name()
	}
	return reflect.TypeOf(h).String() + "#" + strconv.Itoa(i)
}

// beforeSend runs the hooks' BeforeSend over events and records in by[i] the hook that
// rejected events[i] (-1: none), so that its error can name it. It returns the first hook
// error, as a *HookError.
func (p *Producer) beforeSend(ctx context.Context, events []instance.SendEvent, by []int16) error {
	for j := range by {
		by[j] = -1
	}
	for i, h := range p.hooks {
		if err := h.BeforeSend(ctx, events); err != nil {
			return &HookError{Hook: hookName(h, i), Err: err}
		}
		for j := range events {
			if events[j].Reject != "" && by[j] < 0 {
				by[j] = int16(i)
			}
		}
	}
	return nil
}

// afterSend runs every hook's AfterSend over events.
func (p *Producer) afterSend(ctx context.Context, events []instance.SendEvent) {
	for _, h := range p.hooks {
		h.AfterSend(ctx, events)
	}
}

// rejection returns the error of an event a hook rejected (by is its beforeSend record),
// nil when none did.
func (p *Producer) rejection(ev *instance.SendEvent, by int16) error {
	if ev.Reject == "" {
		return nil
	}
	name := "send hook"
	if by >= 0 && int(by) < len(p.hooks) {
		name = hookName(p.hooks[by], int(by))
	}
	return &instance.RejectedError{Hook: name, Reason: ev.Reject}
}
