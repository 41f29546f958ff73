// Command goempty is a send hook in Go that does nothing, for the host's benchmarks: what
// a call costs a Go guest before its hook does any work (the Go runtime's entry into an
// export, the sdk's dispatch and its loop over the messages).
package main

import "github.com/mqgate/mqgate/sdk"

func init() {
	sdk.RegisterSendHook(sdk.SendHook{Before: func(*sdk.SendMessage) error { return nil }, HeadersOnly: true})
}

func main() {}
