package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// handleQueryConsumeQueue is AdminBrokerProcessor.queryConsumeQueue (mqadmin queryCq): up
// to count consume queue units from index, and with a consumer group its subscription.
// The store keeps no consume queue extension, so no unit carries extend data or a bit
// map, and a TAG subscription has no filter data (Java's JSON of a null). A queue exists
// once a message was put to it (Java's also once something looked it up).
func (b *Broker) handleQueryConsumeQueue(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "QueryConsumeQueueRequestHeader", ext: req.Ext}
	topic, queueID := r.str("topic", true), r.int32("queueId", true)
	index, count := r.int64("index", true), r.int32("count", true)
	group, hasGroup := req.Ext.Lookup("consumerGroup")
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	minOffset, maxOffset, found := int64(0), int64(0), false
	for _, q := range b.store.Queues() {
		if q.Topic == topic && q.QueueID == queueID {
			minOffset, maxOffset, found = q.MinOffset, q.MaxOffset, true
			break
		}
	}
	if !found {
		return response(req, remoting.SystemError, fmt.Sprintf("%d@%s is not exist!", queueID, topic))
	}
	if index < minOffset || index >= maxOffset {
		// getIndexBuffer finds nothing: SUCCESS, a remark and no body.
		return response(req, remoting.Success, fmt.Sprintf("Index %d of %d@%s is not exist!", index, queueID, topic))
	}
	// QueryConsumeQueueResponseBody, its fields in fastjson's (alphabetical) order.
	body := []byte("{")
	var sub *subscription
	if hasGroup {
		sub, _, _ = b.consumers.subscriptionOf(group, topic)
		filter := "null" // JSON.toJSONString of the null ConsumerFilterData of a TAG subscription
		if sub == nil {
			filter = fmt.Sprintf("%s@%s is not online!", group, topic)
		}
		body = append(append(append(body, `"filterData":`...), jsonString(filter)...), ',')
	}
	body = append(body, `"maxQueueIndex":`...)
	body = strconv.AppendInt(body, maxOffset, 10)
	body = append(body, `,"minQueueIndex":`...)
	body = strconv.AppendInt(body, minOffset, 10)
	body = append(body, `,"queueData":[`...)
	for off, n := index, int32(0); off < maxOffset && n < count; off, n = off+1, n+1 {
		e, ok := b.store.Entry(topic, queueID, off)
		if !ok {
			break
		}
		if n > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"eval":false,"physicOffset":`...)
		body = strconv.AppendInt(body, e.CommitLogOffset, 10)
		body = append(body, `,"physicSize":`...)
		body = strconv.AppendInt(body, int64(e.Size), 10)
		body = append(body, `,"tagsCode":`...)
		body = strconv.AppendInt(body, e.TagsCode, 10)
		body = append(body, '}')
	}
	body = append(body, ']')
	if sub != nil {
		body = append(append(body, `,"subscriptionData":`...), sub.data.Encode()...)
	}
	// Java sets the code of createResponseCommand(null) and leaves its remark.
	resp := response(req, remoting.Success, unsetRemark)
	resp.Body = append(body, '}')
	return resp
}
