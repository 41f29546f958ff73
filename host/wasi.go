package host

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/mqgate/mqgate/sdk/abi"
)

// The WASI functions a module may import (abi.WASIFunctions) are wazero's, each behind a
// wrapper that counts what the call makes the host do (guest.spent): a call to the host
// is one instruction to the checkpoints, yet it may do work in proportion to its
// arguments. A loop of calls, each under costlyWork, went unlooked-at for yieldEvery
// iterations: fd_write of 4 million empty iovecs took 41 ms a call, poll_oneoff of
// 400,000 clock subscriptions 14 ms, random_get of 65,535 bytes 0.2 ms 200 times an
// iteration: minutes past a 10 ms deadline.

// hostCallWork is what any call to the host counts for, in bytes of work (costlyWork): a
// few hundred nanoseconds.
const hostCallWork = 256

// maxSubscriptions bounds poll_oneoff's subscriptions, whose handling the host cannot
// interrupt: Go's runtime asks for a clock and the descriptors it waits on, and a plugin
// has three.
const maxSubscriptions = 1 << 10

// wasiErrnoInval is WASI's EINVAL.
const wasiErrnoInval = 28

// wasiWork tells the work of a call to the WASI function of that name beyond
// hostCallWork, from its arguments, for those whose work grows with them without calling
// back into the host (stream.Write and guestRand count theirs): the iovecs of fd_read and
// fd_write (each a read, and a write even when empty), the subscriptions of poll_oneoff.
// A negative count refuses the call with EINVAL.
var wasiWork = map[string]func(stack []uint64) int{
	"fd_read":  func(s []uint64) int { return 64 * int(api.DecodeU32(s[2])) },
	"fd_write": func(s []uint64) int { return 64 * int(api.DecodeU32(s[2])) },
	"poll_oneoff": func(s []uint64) int {
		if n := api.DecodeU32(s[2]); n <= maxSubscriptions {
			return 80 * int(n)
		}
		return -1
	},
}

// counted is a WASI function that counts its work (wasiWork) before doing it.
type counted struct {
	fn   api.GoModuleFunction
	work func(stack []uint64) int
}

func (c counted) Call(ctx context.Context, mod api.Module, stack []uint64) {
	if g, _ := ctx.Value(guestKey{}).(*guest); g != nil {
		n := hostCallWork
		if c.work != nil {
			w := c.work(stack)
			if w < 0 {
				stack[0] = wasiErrnoInval
				return
			}
			n += w
		}
		g.spent(n)
	}
	c.fn.Call(ctx, mod, stack)
}

// instantiateWASI instantiates the WASI functions the ABI grants, counted.
func instantiateWASI(ctx context.Context, wz wazero.Runtime) error {
	compiled, err := wasi_snapshot_preview1.NewBuilder(wz).Compile(ctx)
	if err != nil {
		return err
	}
	defer compiled.Close(ctx)
	defs := compiled.ExportedFunctions()
	b := wz.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	for _, name := range abi.WASIFunctions {
		d, ok := defs[name]
		if !ok {
			return fmt.Errorf("wazero has no WASI function %s", name)
		}
		fn, ok := d.GoFunction().(api.GoModuleFunction)
		if !ok {
			return fmt.Errorf("WASI function %s is a %T", name, d.GoFunction())
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(counted{fn, wasiWork[name]}, d.ParamTypes(), d.ResultTypes()).
			WithParameterNames(d.ParamNames()...).
			WithResultNames(d.ResultNames()...).
			Export(name)
	}
	_, err = b.Instantiate(ctx)
	return err
}
