package broker

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// GET_BROKER_CONSUME_STATS: AdminBrokerProcessor.fetchAllConsumeStatsInBroker, which
// mqadmin brokerConsumeStats prints: for every subscription group, the consume stats of
// each topic it has offsets for (only order topics when isOrder), as GET_CONSUME_STATS
// computes them over the topic's write queues, and the total of their lags.
func (b *Broker) handleBrokerConsumeStats(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	isOrder := req.Ext.Get("isOrder") == "true" // a missing field leaves Java's false
	var groups []string
	for name := range maps.Keys(b.groups.snapshot().Groups) {
		groups = append(groups, name)
	}
	body := []byte(`{"brokerAddr":`)
	body = append(body, jsonString(b.addr)...)
	body = append(body, `,"consumeStatsList":[`...)
	var totalDiff int64
	// subscriptionGroupTable is a ConcurrentHashMap(1024): a table of 2048 bins, which a
	// broker's few groups do not resize.
	for i, group := range hashOrder(groups, 2048) {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(append(append(body, '{'), jsonString(group)...), ":["...)
		n := 0
		topics := b.offsets.topicsOf(group) // whichTopicByConsumer: a HashSet
		for _, topic := range hashOrder(topics, hashSetSize(len(topics))) {
			tc := b.topics.get(topic)
			if tc == nil || (isOrder && !tc.Order) {
				continue
			}
			if sub, _, _ := b.consumers.subscriptionOf(group, topic); sub == nil && b.consumers.subscriptionCount(group) > 0 {
				continue
			}
			offsets := make([]offsetWrapper, 0, tc.WriteQueueNums)
			for q := range tc.WriteQueueNums {
				o := b.queueProgress(group, topic, q)
				totalDiff += o.brokerOffset - o.consumerOffset // ConsumeStats.computeTotalDiff
				offsets = append(offsets, o)
			}
			if n > 0 {
				body = append(body, ',')
			}
			n++
			body = append(body, encodeConsumeStats(offsets)...)
		}
		body = append(body, "]}"...)
	}
	body = append(body, `],"totalDiff":`...)
	body = strconv.AppendInt(body, totalDiff, 10)
	resp := response(req, remoting.Success, "")
	resp.Body = append(body, '}')
	return resp
}

// hashOrder sorts keys into the order of a Java hash table of the given size: by bin
// (String.hashCode spread, masked), then by name where Java would keep insertion order.
func hashOrder(keys []string, size uint32) []string {
	bin := func(k string) uint32 { h := javaHash(k); return (h ^ h>>16) & (size - 1) }
	slices.SortFunc(keys, func(a, b string) int {
		if ba, bb := bin(a), bin(b); ba != bb {
			return int(ba) - int(bb)
		}
		return cmp.Compare(a, b)
	})
	return keys
}

// hashSetSize is the table size of a default HashSet holding n keys.
func hashSetSize(n int) uint32 {
	s := uint32(16)
	for n > int(s/4*3) {
		s <<= 1
	}
	return s
}
