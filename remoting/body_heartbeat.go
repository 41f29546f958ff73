package remoting

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// HeartbeatData is the body of HEART_BEAT (34), Java's HeartbeatData: a client's producer
// and consumer groups, sent to every broker every 30 s. The sets keep the order given, so
// a decoded body re-encodes to the same bytes.
type HeartbeatData struct {
	ClientID  string         `json:"clientID"`
	Consumers []ConsumerData `json:"consumerDataSet"`
	Producers []ProducerData `json:"producerDataSet"`
}

// ProducerData is a producer group of a heartbeat, Java's ProducerData.
type ProducerData struct {
	GroupName string `json:"groupName"`
}

// ConsumerData is a consumer group of a heartbeat, Java's ConsumerData.
type ConsumerData struct {
	ConsumeFromWhere ConsumeFromWhere   `json:"consumeFromWhere"`
	ConsumeType      ConsumeType        `json:"consumeType"`
	GroupName        string             `json:"groupName"`
	MessageModel     MessageModel       `json:"messageModel"`
	Subscriptions    []SubscriptionData `json:"subscriptionDataSet"`
	UnitMode         bool               `json:"unitMode"`
}

// ConsumeType is Java's ConsumeType enum, by name.
type ConsumeType string

// The consume types.
const (
	ConsumeActively  ConsumeType = "CONSUME_ACTIVELY"  // pull consumer
	ConsumePassively ConsumeType = "CONSUME_PASSIVELY" // push consumer
)

// MessageModel is Java's MessageModel enum, by name.
type MessageModel string

// The message models.
const (
	Broadcasting MessageModel = "BROADCASTING"
	Clustering   MessageModel = "CLUSTERING"
)

// ConsumeFromWhere is Java's ConsumeFromWhere enum, by name: where a group without a
// stored offset starts.
type ConsumeFromWhere string

// The current ConsumeFromWhere values (the enum keeps three deprecated ones).
const (
	ConsumeFromLastOffset  ConsumeFromWhere = "CONSUME_FROM_LAST_OFFSET"
	ConsumeFromFirstOffset ConsumeFromWhere = "CONSUME_FROM_FIRST_OFFSET"
	ConsumeFromTimestamp   ConsumeFromWhere = "CONSUME_FROM_TIMESTAMP"
)

// SubscriptionData is one topic subscription of a consumer group, Java's
// SubscriptionData, in heartbeats, running info and connection lists.
type SubscriptionData struct {
	ClassFilterMode bool `json:"classFilterMode"`
	// CodeSet holds TagHashCode of each tag; the broker's consume queue stores tag hash
	// codes and filters on them.
	CodeSet        []int32 `json:"codeSet"`
	ExpressionType string  `json:"expressionType"` // "TAG" or "SQL92"; empty is null
	// FilterClassSource is read but never written: Java marks it serialize=false.
	FilterClassSource string   `json:"filterClassSource"`
	SubString         string   `json:"subString"` // the expression, "*" for all
	SubVersion        int64    `json:"subVersion"`
	TagsSet           []string `json:"tagsSet"`
	Topic             string   `json:"topic"`
}

// UnmarshalJSON reads a subscription written by Java or by rocketmq-client-go, which
// writes codeSet as strings.
func (s *SubscriptionData) UnmarshalJSON(data []byte) error {
	type plain SubscriptionData
	v := struct {
		*plain
		CodeSet []lenientInt32 `json:"codeSet"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	s.CodeSet = nil
	if v.CodeSet != nil {
		s.CodeSet = make([]int32, len(v.CodeSet))
		for i, c := range v.CodeSet {
			s.CodeSet[i] = int32(c)
		}
	}
	return nil
}

// lenientInt32 is a JSON number that may come quoted.
type lenientInt32 int32

func (n *lenientInt32) UnmarshalJSON(data []byte) error {
	s := string(data)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return errors.New("code " + strconv.Quote(string(data)) + " is not a 32-bit integer")
	}
	*n = lenientInt32(v)
	return nil
}

// Encode returns the body as Java writes it.
func (h *HeartbeatData) Encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.optStrField("clientID", h.ClientID)
	w.key("consumerDataSet")
	w.open('[')
	for i := range h.Consumers {
		c := &h.Consumers[i]
		w.open('{')
		w.optStrField("consumeFromWhere", string(c.ConsumeFromWhere))
		w.optStrField("consumeType", string(c.ConsumeType))
		w.optStrField("groupName", c.GroupName)
		w.optStrField("messageModel", string(c.MessageModel))
		w.key("subscriptionDataSet")
		w.subscriptions(c.Subscriptions)
		w.boolField("unitMode", c.UnitMode)
		w.close('}')
	}
	w.close(']')
	w.key("producerDataSet")
	w.open('[')
	for _, p := range h.Producers {
		w.open('{')
		w.optStrField("groupName", p.GroupName)
		w.close('}')
	}
	w.close(']')
	w.close('}')
	return w.b
}

// Decode reads a heartbeat written by Java, rocketmq-client-go or any JSON writer.
func (h *HeartbeatData) Decode(data []byte) error {
	*h = HeartbeatData{}
	return decodeBody("HeartbeatData", data, h)
}

func (w *jsonWriter) subscriptions(subs []SubscriptionData) {
	w.open('[')
	for i := range subs {
		w.subscription(&subs[i])
	}
	w.close(']')
}

// Encode writes s as fastjson does, for a body that carries one subscription alone
// (QueryConsumeQueueResponseBody).
func (s *SubscriptionData) Encode() []byte {
	w := jsonWriter{}
	w.subscription(s)
	return w.b
}

func (w *jsonWriter) subscription(s *SubscriptionData) {
	w.open('{')
	w.boolField("classFilterMode", s.ClassFilterMode)
	w.key("codeSet")
	w.open('[')
	for _, c := range s.CodeSet {
		w.int(int64(c))
	}
	w.close(']')
	w.optStrField("expressionType", s.ExpressionType)
	w.optStrField("subString", s.SubString)
	w.longField("subVersion", s.SubVersion)
	w.key("tagsSet")
	w.strings(s.TagsSet)
	w.optStrField("topic", s.Topic)
	w.close('}')
}

// TagHashCode is Java's String.hashCode of a tag, the value SubscriptionData.CodeSet
// holds and the broker's consume queue stores for each message.
func TagHashCode(tag string) int32 { return int32(javaStringHash(tag)) }

// SubAll is the expression subscribing to every tag.
const SubAll = "*"

// BuildSubscription builds a TAG subscription from an expression exactly as Java's
// FilterAPI.buildSubscriptionData: "", "*" subscribe to everything; otherwise the
// expression is split on "||", each tag trimmed, empty ones skipped, and the tags and
// their hash codes kept in the order Java's HashSets iterate them. SubString keeps the
// expression as given. SubVersion is left 0: Java sets the current time in milliseconds.
func BuildSubscription(topic, expression string) (SubscriptionData, error) {
	s := SubscriptionData{Topic: topic, SubString: expression, ExpressionType: "TAG",
		TagsSet: []string{}, CodeSet: []int32{}}
	if expression == "" || expression == SubAll {
		s.SubString = SubAll
		return s, nil
	}
	parts := strings.Split(expression, "||")
	// Java's String.split drops trailing empty strings, so "||" splits to nothing.
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 {
		return s, errors.New("remoting: subscription expression " + strconv.Quote(expression) + " has no tag")
	}
	for _, p := range parts {
		tag := strings.TrimFunc(p, func(r rune) bool { return r <= ' ' }) // String.trim
		if tag == "" || slices.Contains(s.TagsSet, tag) {
			continue
		}
		s.TagsSet = append(s.TagsSet, tag)
		if code := TagHashCode(tag); !slices.Contains(s.CodeSet, code) {
			s.CodeSet = append(s.CodeSet, code)
		}
	}
	tagTable := javaTable{}.size(len(s.TagsSet))
	slices.SortStableFunc(s.TagsSet, func(a, b string) int {
		return int(javaBucket(a, tagTable)) - int(javaBucket(b, tagTable))
	})
	codeTable := javaTable{}.size(len(s.CodeSet))
	bucket := func(c int32) int { h := uint32(c); return int((h ^ h>>16) & (codeTable - 1)) }
	slices.SortStableFunc(s.CodeSet, func(a, b int32) int { return bucket(a) - bucket(b) })
	return s, nil
}
