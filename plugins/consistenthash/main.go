// Command consistenthash is Java's AllocateMessageQueueConsistentHash (CONSISTENT_HASH)
// as a plugin. Configuration (optional): {"virtualNodes": 10}, from 1 to 1000 (the
// gateway's allocate_virtual_nodes bounds).
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o consistenthash.wasm .

import (
	"fmt"

	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var virtualNodes = allocate.DefaultVirtualNodes

func configure(config []byte) error {
	var c struct {
		VirtualNodes *int `json:"virtualNodes"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	if c.VirtualNodes != nil {
		// Zero would make an empty ring, which allocates no queue to anybody: nothing
		// consumed, and no error to say why. A huge count runs every rebalance out of
		// its deadline.
		if n := *c.VirtualNodes; n < 1 || n > allocate.MaxVirtualNodes {
			return fmt.Errorf("virtualNodes %d is out of 1..%d", n, allocate.MaxVirtualNodes)
		}
		virtualNodes = *c.VirtualNodes
	}
	return nil
}

func allocateQueues(req sdk.AllocateRequest) []int {
	names := make([]string, len(req.Queues))
	for i, q := range req.Queues {
		names[i] = q.String()
	}
	return allocate.ConsistentHash(req.SelfID, req.Clients, names, virtualNodes)
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterAllocator(allocateQueues)
}

func main() {}
