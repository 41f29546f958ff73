// Command byconfig is Java's AllocateMessageQueueByConfig (CONFIG) as a plugin: the
// configured queues, whoever asks. Configuration:
//
//	{"queues": [{"topic": "T", "brokerName": "broker-a", "queueId": 0}, ...]}
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o byconfig.wasm .

import (
	"errors"
	"fmt"

	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var configured []allocate.Queue

func configure(config []byte) error {
	var c struct {
		Queues []struct {
			Topic      string `json:"topic"`
			BrokerName string `json:"brokerName"`
			QueueID    int32  `json:"queueId"`
		} `json:"queues"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	if len(c.Queues) == 0 {
		return errors.New(`no queues: want {"queues": [{"topic": ..., "brokerName": ..., "queueId": ...}]}`)
	}
	// A queue without a topic or broker, or of a negative id, names none of the topic's
	// queues: the consumer would hold nothing, without a word (a misspelt key leaves one
	// empty). The gateway's allocate_queues refuses the same.
	for i, q := range c.Queues {
		switch {
		case q.Topic == "":
			return fmt.Errorf("queues[%d]: no topic", i)
		case q.BrokerName == "":
			return fmt.Errorf("queues[%d]: no brokerName", i)
		case q.QueueID < 0:
			return fmt.Errorf("queues[%d]: queueId %d is negative", i, q.QueueID)
		}
	}
	configured = configured[:0]
	for _, q := range c.Queues {
		configured = append(configured, allocate.Queue{Topic: q.Topic, BrokerName: q.BrokerName, QueueID: q.QueueID})
	}
	return nil
}

func allocateQueues(req sdk.AllocateRequest) []int {
	queues := make([]allocate.Queue, len(req.Queues))
	for i, q := range req.Queues {
		queues[i] = allocate.Queue(q)
	}
	return allocate.ByConfig(configured, queues)
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterAllocator(allocateQueues)
}

func main() {}
