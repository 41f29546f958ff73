// Command machineroom is Java's AllocateMessageQueueByMachineRoom (MACHINE_ROOM) as a
// plugin: the queues of brokers named "room@broker" whose room is one of this consumer's,
// split among the clients. Configuration: {"rooms": ["room1", "room2"]}.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o machineroom.wasm .

import (
	"errors"

	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var rooms []string

func configure(config []byte) error {
	var c struct {
		Rooms []string `json:"rooms"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	// Without a room no queue matches: nothing consumed, and no error to say why (the
	// gateway refuses the native strategy without allocate_rooms for the same reason).
	if len(c.Rooms) == 0 {
		return errors.New(`no rooms: want {"rooms": ["room1", ...]}, the rooms of brokers named "room@broker"`)
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
