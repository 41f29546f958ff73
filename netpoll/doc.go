// Package netpoll is the remoting transport: RocketMQ remoting commands over TCP, on
// cloudwego/netpoll connections, or on package net when TLS (crypto/tls) or NetConn is
// configured. Everything above the socket is shared by both.
//
// A Client keeps one connection per address, dialed on first use and again after a loss.
// Requests are pipelined on it and matched to their responses by opaque; a per-connection
// bound on requests in flight makes callers wait rather than queue without limit. Requests
// the peer initiates (a broker asking a client for its running info, say) go to handlers
// registered by request code and run on a bounded pool, never on the goroutine reading
// the connection. A Server accepts connections on the same machinery and can push requests
// to its clients through their Conn handles.
//
// Errors callers branch on: ErrTimeout (the request outlived its deadline), ErrConnClosed
// (the connection broke or could not be made; every request pending on it fails at once)
// and ErrClosed (the Client or Server was closed). Match them with errors.Is.
//
// Frames are validated against the configured maximum before anything is allocated for
// them, and a malformed frame closes its connection, as the Java implementation does.
//
// How the hot path is built, and why (each choice measured, see the benchmarks):
//   - Reading: a frame is decoded in place in netpoll's (or bufio's) buffer; the command
//     gets copies of its header strings (from remoting.Command.Decode) and of its body, and
//     is allocated together with room for twelve extFields.
//   - Waiting: pending requests are pooled entries in a sharded table, each with a reused
//     channel; no goroutine and no timer per request. One sweeper goroutine per Client or
//     Server fails expired requests every 5 ms and sleeps while nothing is pending; a
//     caller's context deadline is exact.
//   - Writing: callers encode into pooled buffers in parallel and append to the
//     connection's queue; one writer goroutine per connection sends the queue in batches,
//     so frames that arrive during a send share the next syscall.
package netpoll
