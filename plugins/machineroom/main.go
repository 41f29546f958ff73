// Command machineroom is Java's AllocateMessageQueueByMachineRoom (MACHINE_ROOM) as a
// plugin: the queues of brokers named "room@broker" whose room is one of this consumer's,
// split among the clients. Configuration: {"rooms": ["room1", "room2"]}.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o machineroom.wasm .

import (
	"encoding/json"

	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/sdk"
)

var rooms []string

func configure(config []byte) error {
	var c struct {
		Rooms []string `json:"rooms"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return err
	}
	rooms = c.Rooms
	return nil
}

func allocateQueues(req sdk.AllocateRequest) []int {
	brokers := make([]string, len(req.Queues))
	for i, q := range req.Queues {
		brokers[i] = q.BrokerName
	}
	return allocate.ByMachineRoom(req.SelfID, req.Clients, brokers, rooms)
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterAllocator(allocateQueues)
}

func main() {}
