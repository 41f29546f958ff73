package broker

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// QUERY_MESSAGE: QueryMessageProcessor.queryMessage over DefaultMessageStore.queryMessage
// and its IndexService. Java indexes each stored message (but a transaction's rollback)
// under "topic#key" for its UNIQ_KEY and each of its KEYS, and answers from the index by
// the key's hash alone; the store has no index, so the topic's queues are scanned for
// the messages Java's index would name. The index's times are seconds from its first
// entry; store timestamps are compared here as they are.

// MessageStoreConfig defaults of the query.
const (
	defaultQueryMaxNum = 32 // defaultQueryMaxNum: a unique key query's maxNum
	maxMsgsNumBatch    = 64 // maxMsgsNumBatch: the most a query answers
)

func (b *Broker) handleQueryMessage(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	r := fieldReader{header: "QueryMessageRequestHeader", ext: req.Ext}
	topic, key := extOrNull(req.Ext, "topic"), extOrNull(req.Ext, "key") // buildKey concatenates a null
	maxNum := r.int32("maxNum", true)
	begin, end := r.int64("beginTimestamp", true), r.int64("endTimestamp", true)
	if r.err != nil {
		return headerErrorResponse(req, r.err)
	}
	if req.Ext.Get(uniqueKeyQueryFlag) == "true" {
		maxNum = defaultQueryMaxNum
	}
	if maxNum < 0 { // IndexService.queryOffset: new ArrayList(maxNum)
		return response(req, remoting.SystemError, illegalCapacityRemark(maxNum))
	}
	maxNum = min(maxNum, maxMsgsNumBatch)

	// The index entries of the key's hash in time, newest first (IndexFile.selectPhyOffset
	// walks a hash slot's chain from its last entry), one per key a message was indexed
	// under: a message whose KEYS repeat the key is answered as often.
	want := indexKeyHash(topic + "#" + key)
	var hits []int64
	var lastOffset, lastTime int64 // the index's end: its newest entry
	for _, qi := range b.store.Queues() {
		if qi.MaxOffset > qi.MinOffset {
			if e, ok := b.store.Entry(qi.Topic, qi.QueueID, qi.MaxOffset-1); ok && e.CommitLogOffset >= lastOffset {
				lastOffset, lastTime = e.CommitLogOffset, e.StoreTimestamp
			}
		}
		if qi.Topic != topic {
			continue
		}
		for off := qi.MinOffset; off < qi.MaxOffset; off++ {
			e, ok := b.store.Entry(qi.Topic, qi.QueueID, off)
			if !ok || e.StoreTimestamp < begin || e.StoreTimestamp > end {
				continue
			}
			m, err := b.store.Lookup(e.CommitLogOffset)
			if err != nil || message.TransactionType(m.SysFlag) == message.SysFlagTransactionRollback {
				continue
			}
			if uniq, ok := m.Properties.Lookup(message.PropertyUniqKey); ok && indexKeyHash(topic+"#"+uniq) == want {
				hits = append(hits, e.CommitLogOffset)
			}
			for k := range strings.SplitSeq(m.Properties.Get(message.PropertyKeys), message.KeySeparator) {
				if k != "" && indexKeyHash(topic+"#"+k) == want {
					hits = append(hits, e.CommitLogOffset)
				}
			}
		}
	}
	slices.SortStableFunc(hits, func(a, b int64) int { return int(min(max(b-a, -1), 1)) })
	hits = hits[:min(len(hits), int(maxNum))]
	slices.Sort(hits) // DefaultMessageStore.queryMessage sorts the offsets

	var body []byte
	for _, off := range hits {
		if raw, err := b.store.ReadAt(off); err == nil {
			body = append(body, raw...)
		}
	}
	var resp *remoting.Command
	if len(body) > 0 {
		resp = response(req, remoting.Success, "")
		resp.Body = body
	} else {
		// The index's end is reported only with offsets found.
		resp = response(req, remoting.QueryNotFound, "can not find message, maybe time range not correct")
		lastOffset, lastTime = 0, 0
	}
	// QueryMessageResponseHeader, in the order of the HashMap Java writes it from.
	var f javaProps
	f.reset()
	f.put("indexLastUpdateTimestamp", strconv.FormatInt(lastTime, 10))
	f.put("indexLastUpdatePhyoffset", strconv.FormatInt(lastOffset, 10))
	f.order()
	for _, e := range f.entries {
		resp.Ext = append(resp.Ext, remoting.Field{Key: e.key, Value: e.value})
	}
	return resp
}

// extOrNull returns a string header field, or "null" as Java's concatenation prints a
// field that was not sent.
func extOrNull(ext remoting.ExtFields, key string) string {
	if v, ok := ext.Lookup(key); ok {
		return v
	}
	return "null"
}

// indexKeyHash is IndexFile.indexKeyHashMethod: |String.hashCode|, 0 for Integer.MIN_VALUE.
func indexKeyHash(key string) int32 {
	h := int32(javaHash(key))
	if h < 0 {
		h = -h
	}
	return max(h, 0)
}
