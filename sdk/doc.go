// Package sdk is what a plugin author imports to write an mqgate plugin: a queue
// allocation strategy, a send hook, a consume hook or an RPC hook, in plain Go, compiled
// to a WebAssembly module the gateway runs in a sandbox:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A plugin registers one function (or one hook struct) from an init function and leaves
// main empty; the sdk exports the entry points ABI.md specifies, decodes what the host
// writes into the module's memory, calls the plugin and encodes its answer. A plugin never
// sees the ABI. The same code builds natively, so the plugin's functions are unit-tested
// with go test like any Go code; Dispatch runs them through the ABI encoding natively.
//
// What a module gets is the WASI subset ABI.md lists (no files, network, environment or
// arguments; stdout and stderr go to the gateway's log), Log, and for RPC hooks HMACSHA1,
// computed by the host. Clocks and randomness are
// real for hooks and fixed, seeded fakes for allocation strategies, which must answer the
// same on every gateway.
//
// Strings and byte slices the sdk hands a plugin (client ids, properties, bodies, field
// values) are views of the module's input buffer: they are valid until the plugin's
// function returns and change after. Copy (strings.Clone, bytes.Clone) whatever a plugin
// keeps across calls. Go compiled to WebAssembly runs several times slower than native
// code and pays dearly for allocation and for every function call (several nanoseconds
// each), so the sdk copies and allocates nothing per call and keeps the path from the
// export to a plugin's function short; a plugin that allocates pays for its garbage
// collection within its calls' deadlines. Hook functions that take *SendMessage or
// *ConsumedMessage rather than an interface save a dynamic call per message.
//
// A panic in a plugin function does not kill the module: the sdk recovers it and the call
// fails with the panic's message, to which the gateway applies the slot's policy.
package sdk
