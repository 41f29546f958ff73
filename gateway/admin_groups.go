package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// progressAnswer is the answer to GET /v1/groups/{group}/progress: mqadmin
// consumerProgress's table, queue by queue.
type progressAnswer struct {
	Group string `json:"group"`
	Topic string `json:"topic,omitempty"` // the ?topic= asked for; every topic when empty
	// ConsumeTPS is the messages per second the brokers served the group, summed.
	ConsumeTPS float64         `json:"consume_tps"`
	TotalLag   int64           `json:"total_lag"`
	Topics     []topicProgress `json:"topics"`
	Queues     []queueProgress `json:"queues"`
}

// topicProgress sums a topic's queues (the group's retry topic is one of them).
type topicProgress struct {
	Topic string `json:"topic"`
	Lag   int64  `json:"lag"`
}

// queueProgress is one queue: the broker's max offset, the group's committed offset, the
// difference, and when the last message the group consumed was stored.
type queueProgress struct {
	Topic          string     `json:"topic"`
	Broker         string     `json:"broker"`
	QueueID        int32      `json:"queue_id"`
	BrokerOffset   int64      `json:"broker_offset"`
	ConsumerOffset int64      `json:"consumer_offset"`
	Lag            int64      `json:"lag"`
	LastTimestamp  int64      `json:"last_timestamp"` // ms since the epoch, 0 for none
	LastConsumedAt *time.Time `json:"last_consumed_at,omitempty"`
}

// groupProgress answers a group's consume progress on every broker that knows it, as
// mqadmin consumerProgress does (?topic=T for one topic); 404 for a group no broker knows.
func (g *Gateway) groupProgress(w http.ResponseWriter, r *http.Request) {
	group, topic := r.PathValue("group"), r.URL.Query().Get("topic")
	if err := message.ValidateGroup(group); err != nil {
		g.admin.fail(w, r, badRequest("group: %v", err))
		return
	}
	if topic != "" {
		if err := message.ValidateTopic(topic); err != nil {
			g.admin.fail(w, r, badRequest("topic: %v", err))
			return
		}
	}
	inst, ctx, cancel := g.adminInstance(w, r)
	if inst == nil {
		return
	}
	defer cancel()
	stats, err := inst.ConsumeStats(ctx, group, topic)
	if err != nil {
		g.admin.fail(w, r, adminOpError(err))
		return
	}
	writeJSON(w, http.StatusOK, progressOf(group, topic, stats))
}

// progressOf turns merged consume stats into the answer, queues in Java's MessageQueue
// order.
func progressOf(group, topic string, stats *remoting.ConsumeStats) progressAnswer {
	ans := progressAnswer{Group: group, Topic: topic, ConsumeTPS: stats.ConsumeTps, TotalLag: stats.TotalLag(),
		Topics: []topicProgress{}, Queues: make([]queueProgress, 0, len(stats.OffsetTable))}
	queues := make([]remoting.MessageQueue, 0, len(stats.OffsetTable))
	for q := range stats.OffsetTable {
		queues = append(queues, q)
	}
	slices.SortFunc(queues, remoting.MessageQueue.Compare)
	for _, q := range queues {
		o := stats.OffsetTable[q]
		p := queueProgress{Topic: q.Topic, Broker: q.BrokerName, QueueID: q.QueueID, BrokerOffset: o.BrokerOffset,
			ConsumerOffset: o.ConsumerOffset, Lag: o.Lag(), LastTimestamp: o.LastTimestamp}
		if o.LastTimestamp > 0 {
			at := time.UnixMilli(o.LastTimestamp).UTC()
			p.LastConsumedAt = &at
		}
		ans.Queues = append(ans.Queues, p)
		if n := len(ans.Topics); n == 0 || ans.Topics[n-1].Topic != q.Topic {
			ans.Topics = append(ans.Topics, topicProgress{Topic: q.Topic})
		}
		ans.Topics[len(ans.Topics)-1].Lag += p.Lag
	}
	return ans
}

// resetRequest is the body of POST /v1/groups/{group}/reset-offset.
type resetRequest struct {
	Topic string `json:"topic"`
	// Timestamp is milliseconds since the epoch, an RFC 3339 time, or "now" (the end of
	// every queue).
	Timestamp json.RawMessage `json:"timestamp"`
	// Force moves offsets forwards too; default true, as mqadmin resetOffsetByTime.
	Force *bool `json:"force"`
}

// resetAnswer is the answer to a reset: the queues' new offsets.
type resetAnswer struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Timestamp int64  `json:"timestamp"` // ms since the epoch; -1 for "now"
	Force     bool   `json:"force"`
	// Direct: no consumer of the group was online; the offsets were stored on the brokers
	// for consumers that start later. Otherwise the brokers told the live consumers.
	Direct bool          `json:"direct"`
	Queues []queueOffset `json:"queues"`
}

type queueOffset struct {
	Broker  string `json:"broker"`
	QueueID int32  `json:"queue_id"`
	Offset  int64  `json:"offset"`
}

// resetGroupOffset resets a group's offsets of a topic to a timestamp through the brokers,
// as mqadmin resetOffsetByTime does.
func (g *Gateway) resetGroupOffset(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	var req resetRequest
	if err := decodeAdminBody(w, r, &req); err != nil {
		g.admin.fail(w, r, err)
		return
	}
	ts, err := parseResetTimestamp(req.Timestamp)
	if err == nil {
		err = checkGroupTopic(group, req.Topic)
	}
	if err != nil {
		g.admin.fail(w, r, err)
		return
	}
	force := req.Force == nil || *req.Force
	inst, ctx, cancel := g.adminInstance(w, r)
	if inst == nil {
		return
	}
	defer cancel()
	res, err := inst.ResetOffsetByTimestamp(ctx, group, req.Topic, ts, force)
	if err != nil {
		g.admin.fail(w, r, adminOpError(err))
		return
	}
	ans := resetAnswer{Group: group, Topic: req.Topic, Timestamp: ts, Force: force, Direct: res.Direct, Queues: []queueOffset{}}
	queues := make([]remoting.MessageQueue, 0, len(res.Offsets))
	for q := range res.Offsets {
		queues = append(queues, q)
	}
	slices.SortFunc(queues, remoting.MessageQueue.Compare)
	for _, q := range queues {
		ans.Queues = append(ans.Queues, queueOffset{Broker: q.BrokerName, QueueID: q.QueueID, Offset: res.Offsets[q]})
	}
	g.log.Info("gateway: admin: consumer offsets reset", "group", group, "topic", req.Topic, "timestamp", ts,
		"force", force, "direct", res.Direct, "queues", len(ans.Queues))
	writeJSON(w, http.StatusOK, ans)
}

func checkGroupTopic(group, topic string) error {
	if err := message.ValidateGroup(group); err != nil {
		return badRequest("group: %v", err)
	}
	if topic == "" {
		return badRequest(`topic is missing: want {"topic": "...", "timestamp": ...}`)
	}
	if err := message.ValidateTopic(topic); err != nil {
		return badRequest("topic: %v", err)
	}
	return nil
}

// parseResetTimestamp reads the timestamp of a reset: a number of milliseconds since the
// epoch, a string holding one, an RFC 3339 time, or "now" (instance.ResetLatest).
func parseResetTimestamp(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, badRequest(`timestamp is missing: want milliseconds since the epoch, an RFC 3339 time or "now"`)
	}
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, badRequest("timestamp: %v", err)
		}
	} else {
		text = string(raw)
	}
	if text == "now" {
		return instance.ResetLatest, nil
	}
	if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
		if ms < 0 {
			return 0, badRequest("timestamp: %d is negative", ms)
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return 0, badRequest(`timestamp: %q is not milliseconds since the epoch, an RFC 3339 time or "now"`, text)
	}
	if t.UnixMilli() < 0 {
		return 0, badRequest("timestamp: %s is before 1970", text)
	}
	return t.UnixMilli(), nil
}
