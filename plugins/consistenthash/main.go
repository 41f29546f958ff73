// Command consistenthash is Java's AllocateMessageQueueConsistentHash (CONSISTENT_HASH)
// as a plugin. Configuration (optional): {"virtualNodes": 10}.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o consistenthash.wasm .

import (
	"encoding/json"
	"errors"

	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/sdk"
)

var virtualNodes = allocate.DefaultVirtualNodes

func configure(config []byte) error {
	if len(config) == 0 {
		return nil
	}
	var c struct {
		VirtualNodes *int `json:"virtualNodes"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return err
	}
	if c.VirtualNodes != nil {
		if *c.VirtualNodes < 0 {
			return errors.New("virtualNodes must not be negative")
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
