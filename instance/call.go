package instance

import (
	"context"
	"sync"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The plumbing under every typed call: the client identity stamped on requests, the
// default timeout, the RPC hooks around the transport, and errors wrapped with what was
// asked of whom.

// noCancel is the cancel function of a context left as it was: no allocation per call.
var noCancel context.CancelFunc = func() {}

// withTimeout gives ctx the RequestTimeout when it has no deadline. Callers on the hot
// path pass a context with a deadline and pay nothing.
func (i *Instance) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, i.cfg.RequestTimeout)
}

// transport returns the client, or an error saying the instance was never started.
func (i *Instance) transport() (*netpoll.Client, error) {
	if cl := i.client.Load(); cl != nil {
		return cl, nil
	}
	return nil, &StateError{ClientID: i.clientID, Op: "call a broker", State: i.State()}
}

// request returns a request with this client's identity.
func (i *Instance) request(code remoting.RequestCode, h remoting.HeaderEncoder) *remoting.Command {
	return &remoting.Command{Code: int32(code), Language: i.cfg.language, Version: i.cfg.Version,
		Header: h, Serialize: i.cfg.serialize}
}

// commands recycles the requests of the synchronous hot path (sends, pulls). The
// transport copies a request into its write buffer before Invoke returns, so a request is
// free once Invoke and the RPC hooks are done with it. Asynchronous calls do not recycle
// theirs: the transport may run the callback, and with it the AfterResponse hooks, before
// InvokeAsync has returned, while it still reads the request.
var commands = sync.Pool{New: func() any { return new(remoting.Command) }}

func (i *Instance) pooledRequest(code remoting.RequestCode, h remoting.HeaderEncoder) *remoting.Command {
	c := commands.Get().(*remoting.Command)
	*c = remoting.Command{Code: int32(code), Language: i.cfg.language, Version: i.cfg.Version,
		Header: h, Serialize: i.cfg.serialize, Ext: c.Ext[:0]}
	return c
}

func putRequest(c *remoting.Command) {
	clear(c.Ext) // drop the strings RPC hooks added
	*c = remoting.Command{Ext: c.Ext[:0]}
	commands.Put(c)
}

// beforeHooks runs the RPC hooks' BeforeRequest in order; the first error fails the call.
func (i *Instance) beforeHooks(addr string, req *remoting.Command) error {
	for _, h := range i.hooks {
		if err := h.BeforeRequest(addr, req); err != nil {
			return &HookError{Stage: "before request", Request: req.RequestCode(), Addr: addr, Err: err}
		}
	}
	return nil
}

// afterHooks runs the RPC hooks' AfterResponse in order; the first error fails the call.
func (i *Instance) afterHooks(addr string, req, resp *remoting.Command) error {
	for _, h := range i.hooks {
		if err := h.AfterResponse(addr, req, resp); err != nil {
			return &HookError{Stage: "after response", Request: req.RequestCode(), Addr: addr, Err: err}
		}
	}
	return nil
}

// invoke sends req to addr and waits for the response, with the RPC hooks around it. Any
// response is returned, whatever its code: the typed calls decide what is an error.
func (i *Instance) invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	cl, err := i.transport()
	if err != nil {
		return nil, err
	}
	ctx, cancel := i.withTimeout(ctx)
	defer cancel()
	if err := i.beforeHooks(addr, req); err != nil {
		return nil, err
	}
	if i.tel != nil {
		return i.invokeObserved(ctx, cl, addr, req)
	}
	resp, err := cl.Invoke(ctx, addr, req)
	if err != nil {
		return nil, callError(req.RequestCode(), addr, err)
	}
	if err := i.afterHooks(addr, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// invokeAsync sends req to addr and returns; cb gets the response or the error once, on a
// transport goroutine, after the RPC hooks' AfterResponse, when invokeAsync returns nil.
// cb may run before invokeAsync returns, so req must not be modified after the call.
func (i *Instance) invokeAsync(ctx context.Context, addr string, req *remoting.Command,
	cb func(*remoting.Command, error)) error {
	cl, err := i.transport()
	if err != nil {
		return err
	}
	ctx, cancel := i.withTimeout(ctx)
	if err := i.beforeHooks(addr, req); err != nil {
		cancel()
		return err
	}
	var tel func(*remoting.Command, error)
	if i.tel != nil {
		tel = i.tel.asyncCall(ctx, addr, req)
	}
	err = cl.InvokeAsync(ctx, addr, req, func(resp *remoting.Command, err error) {
		cancel()
		if tel != nil {
			tel(resp, err)
		}
		if err != nil {
			cb(nil, callError(req.RequestCode(), addr, err))
			return
		}
		if err := i.afterHooks(addr, req, resp); err != nil {
			cb(nil, err)
			return
		}
		cb(resp, nil)
	})
	if err != nil {
		cancel()
		return callError(req.RequestCode(), addr, err)
	}
	return nil
}

// invokeOneway sends req to addr expecting no response; only BeforeRequest hooks run, as
// in Java.
func (i *Instance) invokeOneway(ctx context.Context, addr string, req *remoting.Command) error {
	cl, err := i.transport()
	if err != nil {
		return err
	}
	ctx, cancel := i.withTimeout(ctx)
	defer cancel()
	if err := i.beforeHooks(addr, req); err != nil {
		return err
	}
	if err := cl.InvokeOneway(ctx, addr, req); err != nil {
		return callError(req.RequestCode(), addr, err)
	}
	return nil
}

// expect returns nil for a SUCCESS response and a *BrokerError for any other.
func expect(resp *remoting.Command, addr string, code remoting.RequestCode) error {
	if resp.ResponseCode() == remoting.Success {
		return nil
	}
	return brokerError(resp, addr, code)
}

// call sends a request with header h and, on SUCCESS, decodes the response header into out
// (when not nil); any other answer is a *BrokerError.
func (i *Instance) call(ctx context.Context, addr string, code remoting.RequestCode,
	h remoting.HeaderEncoder, out remoting.HeaderDecoder) error {
	resp, err := i.invoke(ctx, addr, i.request(code, h))
	if err != nil {
		return err
	}
	if err := expect(resp, addr, code); err != nil {
		return err
	}
	if out != nil {
		if err := out.DecodeFields(resp.Ext); err != nil {
			return decodeError("response header", code, addr, err)
		}
	}
	return nil
}
