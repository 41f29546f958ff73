// Command averagely is Java's AllocateMessageQueueAveragely (AVG) as a plugin.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o averagely.wasm .

import (
	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/sdk"
)

func init() {
	sdk.RegisterAllocator(func(req sdk.AllocateRequest) []int {
		return allocate.Averagely(req.SelfID, req.Clients, len(req.Queues))
	})
}

func main() {}
