package interop

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/remoting"
)

// queryOffset is the group's committed offset of a queue (QUERY_CONSUMER_OFFSET).
func (c *cluster) queryOffset(t *testing.T, group, topic string, queue int) int64 {
	t.Helper()
	resp := invoke(t, c.broker, &remoting.Command{Code: int32(remoting.QueryConsumerOffset), Ext: remoting.ExtFields{
		{Key: "consumerGroup", Value: group}, {Key: "topic", Value: topic}, {Key: "queueId", Value: strconv.Itoa(queue)}}})
	if resp.Code != int32(remoting.Success) {
		return -1
	}
	off, _ := strconv.ParseInt(resp.Ext.Get("offset"), 10, 64)
	return off
}

// waitCommitted waits until the group's committed offsets of the topic's queues add up
// to n. rocketmq-client-go takes a message's offset after its handler returns, so a test
// counting deliveries can see the last one before its offset is taken: shutting the
// consumer down then would race that, and replay messages the test counted.
func waitCommitted(t *testing.T, c *cluster, group, topic string, queues int, n int64) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d offsets committed", n), func() bool {
		var sum int64
		for q := range queues {
			sum += max(c.queryOffset(t, group, topic, q), 0)
		}
		return sum >= n
	})
}

func TestOffsetsAndDelaysSurviveABrokerRestartInPlace(t *testing.T) {
	if os.Getenv("ROCKETMQ_NAMESRV") != "" {
		t.Skip("restarts the broker in place: devcluster only")
	}
	c, dc := startDevClusterWith(t, func(cfg *devcluster.Config) { cfg.DataDir = t.TempDir() })
	topic, group := name(t, "T"), name(t, "G")
	c.createTopic(t, topic, 4)
	sendN(t, c, topic, group, "before", 10, "")
	col1 := &collector{}
	pc := newPushConsumer(t, c, group, "c1", topic, "*", col1)
	eventually(t, 60*time.Second, "the first 10 consumed", func() bool { return col1.count() >= 10 })
	waitCommitted(t, c, group, topic, 4, 10)
	if err := pc.Shutdown(); err != nil { // commits the consumed offsets
		t.Fatalf("shutdown: %v", err)
	}
	var committed [4]int64
	for q := range committed {
		committed[q] = c.queryOffset(t, group, topic, q)
	}

	// A message still delayed when the broker goes down is delivered once after.
	p := newProducer(t, c, group+"_p")
	m := primitive.NewMessage(topic, []byte("delayed across the restart"))
	m.WithDelayTimeLevel(4) // 30s, scaled: pending during the restart
	m.WithKeys([]string{"delayed-0"})
	if _, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil {
		t.Fatalf("send delayed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dc.RestartBroker(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	for q, want := range committed {
		if got := c.queryOffset(t, group, topic, q); got != want {
			t.Errorf("queue %d: offset %d after the restart, %d before", q, got, want)
		}
	}

	sendN(t, c, topic, group, "after", 10, "")
	col2 := &collector{}
	newPushConsumer(t, c, group, "c2", topic, "*", col2)
	eventually(t, 60*time.Second, "the 10 new and the delayed one consumed", func() bool { return col2.count() >= 11 })
	got := col2.byKey(t)
	for k := range got {
		if strings.HasPrefix(k, "before") {
			t.Errorf("message %s consumed again after the broker restart", k)
		}
	}
	if got["delayed-0"] == nil {
		t.Errorf("the delayed message was lost in the restart: %v", keysOf(got))
	}
}
