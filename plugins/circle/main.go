// Command circle is Java's AllocateMessageQueueAveragelyByCircle (AVG_BY_CIRCLE) as a
// plugin.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o circle.wasm .

import (
	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/sdk"
)

func init() {
	sdk.RegisterAllocator(func(req sdk.AllocateRequest) []int {
		return allocate.AveragelyByCircle(req.SelfID, req.Clients, len(req.Queues))
	})
}

func main() {}
