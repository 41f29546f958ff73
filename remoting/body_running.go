package remoting

import "slices"

// ConsumerRunningInfo is the body of a client's answer to GET_CONSUMER_RUNNING_INFO (307),
// Java's ConsumerRunningInfo: its configuration, subscriptions and per-queue state.
type ConsumerRunningInfo struct {
	Jstack string `json:"jstack"` // a thread dump, when the request asked for one
	// MQTable is the state of each queue the client holds (a TreeMap in Java).
	MQTable QueueTable[ProcessQueueInfo] `json:"mqTable"`
	// Properties are the consumer's settings and the PROP_* entries, as strings.
	Properties map[string]string `json:"properties"`
	// StatusTable holds consumption statistics by topic (a TreeMap in Java).
	StatusTable map[string]ConsumeStatus `json:"statusTable"`
	// Subscriptions is a TreeSet in Java, ordered by topic + "@" + subString.
	Subscriptions []SubscriptionData `json:"subscriptionSet"`
}

// Property names of ConsumerRunningInfo.Properties that are not consumer settings.
const (
	PropNameServerAddr         = "PROP_NAMESERVER_ADDR"
	PropThreadPoolCoreSize     = "PROP_THREADPOOL_CORE_SIZE"
	PropConsumeOrderly         = "PROP_CONSUMEORDERLY"
	PropConsumeType            = "PROP_CONSUME_TYPE"
	PropClientVersion          = "PROP_CLIENT_VERSION"
	PropConsumerStartTimestamp = "PROP_CONSUMER_START_TIMESTAMP"
)

// ProcessQueueInfo is the state of one queue held by a consumer, Java's ProcessQueueInfo.
type ProcessQueueInfo struct {
	CachedMsgCount          int32 `json:"cachedMsgCount"`
	CachedMsgMaxOffset      int64 `json:"cachedMsgMaxOffset"`
	CachedMsgMinOffset      int64 `json:"cachedMsgMinOffset"`
	CachedMsgSizeInMiB      int32 `json:"cachedMsgSizeInMiB"`
	CommitOffset            int64 `json:"commitOffset"`
	Dropped                 bool  `json:"droped"` // sic
	LastConsumeTimestamp    int64 `json:"lastConsumeTimestamp"`
	LastLockTimestamp       int64 `json:"lastLockTimestamp"`
	LastPullTimestamp       int64 `json:"lastPullTimestamp"`
	Locked                  bool  `json:"locked"`
	TransactionMsgCount     int32 `json:"transactionMsgCount"`
	TransactionMsgMaxOffset int64 `json:"transactionMsgMaxOffset"`
	TransactionMsgMinOffset int64 `json:"transactionMsgMinOffset"`
	TryUnlockTimes          int64 `json:"tryUnlockTimes"`
}

// ConsumeStatus is the consumption statistics of one topic, Java's ConsumeStatus.
type ConsumeStatus struct {
	ConsumeFailedMsgs int64   `json:"consumeFailedMsgs"`
	ConsumeFailedTPS  float64 `json:"consumeFailedTPS"`
	ConsumeOKTPS      float64 `json:"consumeOKTPS"`
	ConsumeRT         float64 `json:"consumeRT"`
	PullRT            float64 `json:"pullRT"`
	PullTPS           float64 `json:"pullTPS"`
}

// Encode returns the body as Java writes it, byte for byte except for Properties: Java
// iterates java.util.Properties in an order that depends on the JDK (a Hashtable before 9,
// a ConcurrentHashMap since) and on insertion history, so they are written in key order.
func (r *ConsumerRunningInfo) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.optStrField("jstack", r.Jstack)
	w.key("mqTable")
	queueTable(&w, r.MQTable, true, (*jsonWriter).processQueueInfo)
	w.key("properties")
	w.open('{')
	for _, k := range sortedKeys(r.Properties, javaTable{}, true) {
		w.strField(k, r.Properties[k])
	}
	w.close('}')
	w.key("statusTable")
	w.open('{')
	for _, k := range sortedKeys(r.StatusTable, javaTable{}, true) {
		w.key(k)
		w.consumeStatus(r.StatusTable[k])
	}
	w.close('}')
	w.key("subscriptionSet")
	subs := slices.Clone(r.Subscriptions)
	slices.SortStableFunc(subs, func(a, b SubscriptionData) int {
		return javaCompare(a.Topic+"@"+a.SubString, b.Topic+"@"+b.SubString)
	})
	w.subscriptions(subs)
	w.close('}')
	return w.b
}

func (w *jsonWriter) processQueueInfo(p ProcessQueueInfo) {
	w.open('{')
	w.intField("cachedMsgCount", int64(p.CachedMsgCount))
	w.longField("cachedMsgMaxOffset", p.CachedMsgMaxOffset)
	w.longField("cachedMsgMinOffset", p.CachedMsgMinOffset)
	w.intField("cachedMsgSizeInMiB", int64(p.CachedMsgSizeInMiB))
	w.longField("commitOffset", p.CommitOffset)
	w.boolField("droped", p.Dropped)
	w.longField("lastConsumeTimestamp", p.LastConsumeTimestamp)
	w.longField("lastLockTimestamp", p.LastLockTimestamp)
	w.longField("lastPullTimestamp", p.LastPullTimestamp)
	w.boolField("locked", p.Locked)
	w.intField("transactionMsgCount", int64(p.TransactionMsgCount))
	w.longField("transactionMsgMaxOffset", p.TransactionMsgMaxOffset)
	w.longField("transactionMsgMinOffset", p.TransactionMsgMinOffset)
	w.longField("tryUnlockTimes", p.TryUnlockTimes)
	w.close('}')
}

func (w *jsonWriter) consumeStatus(s ConsumeStatus) {
	w.open('{')
	w.longField("consumeFailedMsgs", s.ConsumeFailedMsgs)
	w.key("consumeFailedTPS")
	w.double(s.ConsumeFailedTPS)
	w.key("consumeOKTPS")
	w.double(s.ConsumeOKTPS)
	w.key("consumeRT")
	w.double(s.ConsumeRT)
	w.key("pullRT")
	w.double(s.PullRT)
	w.key("pullTPS")
	w.double(s.PullTPS)
	w.close('}')
}

// Decode reads a body written by fastjson (queue keys as objects) or any JSON writer.
func (r *ConsumerRunningInfo) Decode(data []byte) error {
	*r = ConsumerRunningInfo{}
	return decodeBody("ConsumerRunningInfo", data, r)
}
