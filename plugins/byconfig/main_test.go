package main

import (
	"strings"
	"testing"
)

func TestConfigureChecksEveryQueue(t *testing.T) {
	for _, tt := range []struct {
		config string
		want   string // a part of the error, "" to be accepted
	}{
		{`{"queues": [{"topic": "T", "brokerName": "broker-a", "queueId": 0}]}`, ""},
		{`{"queues": [{"topic": "T", "brokerName": "broker-a", "queueId": 3}, {"topic": "U", "brokerName": "b", "queueId": 0}]}`, ""},
		{`{"queues": []}`, "no queues"},
		{``, "no queues: want"},
		{`{"queues": [{"topic": "T", "brokerName": "broker-a", "queue_id": 1}]}`, `unknown field "queue_id"`},
		// A queue missing a field names none of the topic's queues: nothing consumed, no
		// error. The gateway's allocate_queues refuses the same.
		{`{"queues": [{"topic": "T", "queueId": 0}]}`, "queues[0]: no brokerName"},
		{`{"queues": [{"topic": "T", "brokerName": "a", "queueId": 0}, {"brokerName": "broker-a", "queueId": 1}]}`, "queues[1]: no topic"},
		{`{"queues": [{"topic": "T", "brokerName": "broker-a", "queueId": -1}]}`, "queues[0]: queueId -1"},
	} {
		configured = nil
		err := configure([]byte(tt.config))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("configure(%s): %v", tt.config, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("configure(%s) = %v, want an error about %q", tt.config, err, tt.want)
		}
	}
}
