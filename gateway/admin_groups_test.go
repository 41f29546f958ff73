package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// A group's progress and a reset of its offsets, through the broker to the gateway's own
// live consumer, then directly once the consumer is removed.
func TestAdminGroupProgressAndReset(t *testing.T) {
	g, dc := opsGateway(t)
	const topic, group = "GroupsTopic", "ops_group"
	call := func(method, path, tok, body string) reply {
		return callAdmin(t, g, adminCall{method: method, path: path, token: tok, body: []byte(body)})
	}
	if r := call("PUT", "/v1/topics/"+topic, tokTopicsWrite, `{"read_queues":2,"write_queues":2}`); r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	waitFor(t, 10*time.Second, "the topic's route", func() bool {
		_, err := g.inst.GetRouteInfo(ctxFor(t, 5*time.Second), topic)
		return err == nil
	})
	for k := range 5 {
		if r := post(t, g, "/v1/topics/"+topic+"/messages", map[string]any{"body": fmt.Sprint("m", k)}); r.status != http.StatusOK {
			t.Fatalf("produce: %d %s", r.status, r.raw)
		}
	}

	if r := call("GET", "/v1/groups/"+group+"/progress", tokGroupsRead, ""); r.status != 404 || r.str("code") != codeGroupNotFound {
		t.Errorf("progress of a group no broker knows: %d %s", r.status, r.raw)
	}

	// A live consumer of the group on this gateway, whose offsets are stored at 0.
	if err := g.AddConsumer(ctxFor(t, 10*time.Second), ConsumerConfig{Group: group,
		Subscriptions: []SubscriptionConfig{{Topic: topic, Expression: "*"}}, ConsumeFrom: "first"}); err != nil {
		t.Fatal(err)
	}
	for q := range int32(2) {
		h := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: q, CommitOffset: 0}
		if err := g.inst.UpdateConsumerOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(), h); err != nil {
			t.Fatal(err)
		}
	}
	var prog progressAnswer
	waitFor(t, 10*time.Second, "the group's progress", func() bool {
		r := call("GET", "/v1/groups/"+group+"/progress?topic="+topic, tokGroupsRead, "")
		if r.status != http.StatusOK {
			return false
		}
		decodeInto(t, r, &prog)
		return true
	})
	if prog.TotalLag != 5 || len(prog.Queues) != 2 || len(prog.Topics) != 1 || prog.Topics[0] != (topicProgress{topic, 5}) {
		t.Errorf("progress %+v, want a lag of 5 over 2 queues", prog)
	}
	for k, q := range prog.Queues {
		if q.Topic != topic || q.QueueID != int32(k) || q.Lag != q.BrokerOffset-q.ConsumerOffset || q.Broker != "broker-a" {
			t.Errorf("queue %d: %+v", k, q)
		}
	}

	// To the end, through the broker, which tells the live consumer.
	r := call("POST", "/v1/groups/"+group+"/reset-offset", tokGroupsWrite, `{"topic":"`+topic+`","timestamp":"now"}`)
	var reset resetAnswer
	decodeInto(t, r, &reset)
	if r.status != http.StatusOK || reset.Direct || !reset.Force || reset.Timestamp != instance.ResetLatest ||
		len(reset.Queues) != 2 || reset.Queues[0].Offset+reset.Queues[1].Offset != 5 {
		t.Errorf("reset to now: %d %s", r.status, r.raw)
	}

	// Without a consumer online, back to the start, stored directly.
	if err := g.RemoveConsumer(ctxFor(t, 10*time.Second), group); err != nil {
		t.Fatal(err)
	}
	r = call("POST", "/v1/groups/"+group+"/reset-offset", tokGroupsWrite,
		`{"topic":"`+topic+`","timestamp":"1970-01-01T00:00:00Z","force":true}`)
	decodeInto(t, r, &reset)
	if r.status != http.StatusOK || !reset.Direct || len(reset.Queues) != 2 || reset.Queues[0].Offset != 0 || reset.Queues[1].Offset != 0 {
		t.Errorf("direct reset to the start: %d %s", r.status, r.raw)
	}
	r = call("GET", "/v1/groups/"+group+"/progress", tokGroupsRead, "")
	decodeInto(t, r, &prog)
	if r.status != http.StatusOK || prog.TotalLag != 5 {
		t.Errorf("progress after the reset: %d %s", r.status, r.raw)
	}

	for _, tt := range []struct {
		name, method, path, token, body string
		status                          int
		code, mentions                  string
	}{
		{"reset without a topic", "POST", "/v1/groups/g1/reset-offset", tokGroupsWrite, `{"timestamp":0}`, 400, codeBadRequest, "topic is missing"},
		{"reset without a timestamp", "POST", "/v1/groups/g1/reset-offset", tokGroupsWrite, `{"topic":"T"}`, 400, codeBadRequest, "timestamp is missing"},
		{"reset of an unknown topic", "POST", "/v1/groups/" + group + "/reset-offset", tokGroupsWrite, `{"topic":"NoSuchTopic","timestamp":0}`, 404, codeTopicNotFound, "NoSuchTopic"},
		{"progress of a topic the group never consumed", "GET", "/v1/groups/nobody/progress?topic=" + topic, tokGroupsRead, "", 404, codeGroupNotFound, "nobody"},
		{"progress with a bad topic", "GET", "/v1/groups/g1/progress?topic=a%20b", tokGroupsRead, "", 400, codeBadRequest, "topic"},
		{"read scope cannot reset", "POST", "/v1/groups/g1/reset-offset", tokGroupsRead, `{}`, 403, codeForbidden, "groups:write"},
		{"topics scope cannot read progress", "GET", "/v1/groups/g1/progress", tokTopicsWrite, "", 403, codeForbidden, "groups:read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("error"), tt.mentions) {
				t.Errorf("%d %s, want %d %s mentioning %q", r.status, r.raw, tt.status, tt.code, tt.mentions)
			}
		})
	}
}

func TestParseResetTimestamp(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  string
	}{
		{`1700000000123`, 1700000000123, ""},
		{`"1700000000123"`, 1700000000123, ""},
		{`"now"`, instance.ResetLatest, ""},
		{`"2023-11-14T22:13:20.123Z"`, 1700000000123, ""},
		{`"2023-11-14T23:13:20+01:00"`, 1700000000000, ""},
		{``, 0, "missing"},
		{`null`, 0, "missing"},
		{`-5`, 0, "negative"},
		{`"yesterday"`, 0, `"yesterday" is not`},
		{`1.5`, 0, `"1.5" is not`},
		{`"1969-12-31T23:59:59Z"`, 0, "before 1970"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseResetTimestamp(json.RawMessage(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
