package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/plugins/allocate"
	"github.com/mqgate/mqgate/remoting"
)

// The configuration of the gateway's consumers: [[consumer]] in gateway.toml, or the JSON
// body of the admin API's PUT /v1/consumers/{group} (the same keys).

// Delivery modes, consumption models and orders, as the file spells them.
const (
	DeliveryReceive = "receive" // long-poll receive with leases (delivery_receive.go)
	DeliveryWebhook = "webhook" // POSTed to webhook_url (delivery_webhook.go)

	ModelClustering   = "clustering"
	ModelBroadcasting = "broadcasting"

	OrderConcurrently = "concurrently"
	OrderOrderly      = "orderly"
)

// Defaults of [[consumer]].
const (
	DefaultWebhookTimeout     = 10 * time.Second
	DefaultWebhookConcurrency = 20
	DefaultReceiveMaxInFlight = 1000
	DefaultReceiveInvisible   = 30 * time.Second
	// DefaultReceivePullThreshold is a receive consumer's flow control per queue: the
	// messages a queue holds (buffered, leased) before its pulls wait for acks.
	DefaultReceivePullThreshold = 256

	// receiveConsumeTimeout is a receive consumer's default consume_timeout: leases
	// redeliver what applications do not acknowledge, the push consumer's timeout only
	// what is forgotten.
	receiveConsumeTimeout = 24 * time.Hour

	// MaxReceiveWait bounds a receive's long poll; MaxReceiveInvisible a lease.
	MaxReceiveWait      = 30 * time.Second
	MaxReceiveInvisible = 12 * time.Hour
	// minSuspend and maxSuspend bound suspend, as Java bounds suspendCurrentQueueTimeMillis.
	minSuspend = 10 * time.Millisecond
	maxSuspend = 30 * time.Second
	// MaxReceiveBatch bounds a receive's max.
	MaxReceiveBatch = 256
	// MaxVirtualNodes bounds allocate_virtual_nodes: consistenthash builds a ring of
	// consumers × virtual nodes at every rebalance, so a huge count exhausts memory.
	// Java's default is 10.
	MaxVirtualNodes = allocate.MaxVirtualNodes
)

// builtinStrategies are the allocation strategies the allocate key names natively.
var builtinStrategies = []string{"averagely", "circle", "consistenthash", "byconfig", "machineroom"}

// ConsumerConfig is one [[consumer]]: a consumer group the gateway consumes and delivers
// to an application. Group and Subscriptions are required; the zero value of everything
// else is its default.
type ConsumerConfig struct {
	Group         string               `toml:"group" json:"group"`
	Subscriptions []SubscriptionConfig `toml:"subscriptions" json:"subscriptions"`
	// Model is "clustering" (default: the group's consumers share the queues) or
	// "broadcasting" (every consumer gets every message; failures are not sent back to
	// the broker, which has no retry topic for them: a failed webhook POST is retried in
	// place max_reconsume_times times, then dropped as Java drops it; a nacked receive
	// comes again from the gateway's buffer at once).
	Model string `toml:"model" json:"model,omitempty"`
	// Order is "concurrently" (default) or "orderly" (per-queue order, one delivery of a
	// queue at a time).
	Order string `toml:"order" json:"order,omitempty"`
	// Delivery is "receive" (default: applications long-poll POST
	// /v1/consumers/{group}/receive) or "webhook" (POSTed to WebhookURL).
	Delivery string `toml:"delivery" json:"delivery,omitempty"`

	// ConsumeFrom is where a group without stored offsets starts: "last" (default),
	// "first", or "timestamp" (ConsumeTimestamp, RFC 3339; default half an hour ago).
	ConsumeFrom      string `toml:"consume_from" json:"consume_from,omitempty"`
	ConsumeTimestamp string `toml:"consume_timestamp" json:"consume_timestamp,omitempty"`

	// Allocate is the queue allocation strategy (clustering): a plugin of slot
	// "allocate" of that name (a [[plugin]] of the file; through the admin API, an
	// uploaded one too), else one of the built-in averagely (default), circle,
	// consistenthash, byconfig, machineroom. A plugin of a built-in's name replaces it
	// (from its upload on, for a consumer running already), and is then named as any
	// plugin: not deleted while such a consumer runs.
	Allocate string `toml:"allocate" json:"allocate,omitempty"`
	// AllocateQueues are byconfig's queues, "topic/broker/queue_id".
	AllocateQueues []string `toml:"allocate_queues" json:"allocate_queues,omitempty"`
	// AllocateRooms are machineroom's rooms (brokers named "room@name").
	AllocateRooms []string `toml:"allocate_rooms" json:"allocate_rooms,omitempty"`
	// AllocateVirtualNodes is consistenthash's virtual nodes per consumer: 1 to
	// MaxVirtualNodes (1000); default 10.
	AllocateVirtualNodes int `toml:"allocate_virtual_nodes" json:"allocate_virtual_nodes,omitempty"`

	// ConsumeHooks names the plugins of slot "consume" this consumer runs, in order;
	// left out, every consume plugin runs (in the plugins' order); [] runs none.
	ConsumeHooks *[]string `toml:"consume_hooks" json:"consume_hooks,omitempty"`

	// MaxReconsumeTimes is how often a failed message is delivered again before it goes
	// to %DLQ%group, 0..10000; unset, 16 (concurrently), unlimited (orderly). 0 sends it
	// there at its first failure, as Java's maxReconsumeTimes 0.
	MaxReconsumeTimes *int `toml:"max_reconsume_times" json:"max_reconsume_times,omitempty"`
	// PullBatchSize is the most messages one pull asks for; default 32.
	PullBatchSize int `toml:"pull_batch_size" json:"pull_batch_size,omitempty"`
	// PullThreshold is the flow control per queue: the messages a queue may hold,
	// delivered and not yet acknowledged included, before its pulls wait; default 1000
	// (webhook), 256 (receive).
	PullThreshold int `toml:"pull_threshold" json:"pull_threshold,omitempty"`
	// ConsumeTimeout fails a delivery (concurrently) not completed within it, buffered
	// or in flight: it is sent back and delivered again. Default 15m for webhooks, 24h
	// for receive, whose leases redeliver on their own; a lease may not exceed it, nor
	// (concurrently) webhook_timeout. A broadcasting webhook's retries in place end
	// within it.
	ConsumeTimeout time.Duration `toml:"consume_timeout" json:"-"`
	// Suspend is how long an orderly queue pauses after a failure, 10ms..30s; default 1s.
	Suspend time.Duration `toml:"suspend" json:"-"`
	// RebalanceInterval is the periodic rebalance; default 20s.
	RebalanceInterval time.Duration `toml:"rebalance_interval" json:"-"`

	// OffsetDir keeps a broadcasting consumer's offsets (a file per group); default
	// $HOME/.rocketmq_offsets, as Java's. Set [client] instance_name too: the file's
	// path includes the client id.
	OffsetDir string `toml:"offset_dir" json:"offset_dir,omitempty"`

	// Webhook delivery.
	WebhookURL string `toml:"webhook_url" json:"webhook_url,omitempty"`
	// WebhookTimeout bounds one POST; default 10s.
	WebhookTimeout time.Duration `toml:"webhook_timeout" json:"-"`
	// WebhookConcurrency is the most POSTs in flight at once; default 20.
	WebhookConcurrency int `toml:"webhook_concurrency" json:"webhook_concurrency,omitempty"`
	// WebhookBatch is the most messages one POST holds; default 1 (a message object),
	// more sends {"messages": [...]}.
	WebhookBatch int `toml:"webhook_batch" json:"webhook_batch,omitempty"`
	// WebhookHeaders are added to every POST (an Authorization header, say).
	WebhookHeaders map[string]string `toml:"webhook_headers" json:"webhook_headers,omitempty"`

	// Receive delivery.
	// ReceiveMaxInFlight bounds the messages leased and not yet acknowledged; default
	// 1000.
	ReceiveMaxInFlight int `toml:"receive_max_inflight" json:"receive_max_inflight,omitempty"`
	// ReceiveInvisible is a lease's length when a receive names none; default 30s.
	ReceiveInvisible time.Duration `toml:"receive_invisible" json:"-"`

	pos    string            // "gateway.toml:31", set by Parse
	keyPos map[string]string // key -> "gateway.toml:33"
}

// SubscriptionConfig is a topic and its tag expression ("*", "TagA || TagB").
type SubscriptionConfig struct {
	Topic      string `toml:"topic" json:"topic"`
	Expression string `toml:"expression" json:"expression,omitempty"`
}

// ConsumerConfigError is a [[consumer]] setting that cannot work: Key is the key as the
// file and the admin API spell it.
type ConsumerConfigError struct {
	Pos   string // "gateway.toml:33", empty when not from a file
	Group string
	Key   string
	Msg   string
}

func (e *ConsumerConfigError) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos + ": ")
	}
	b.WriteString("[[consumer]] " + strconv.Quote(e.Group) + ": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// consumerDurations are the duration keys, for JSON (strings such as "5s").
type consumerDurations struct {
	ConsumeTimeout    *jsonDuration `json:"consume_timeout,omitempty"`
	Suspend           *jsonDuration `json:"suspend,omitempty"`
	RebalanceInterval *jsonDuration `json:"rebalance_interval,omitempty"`
	WebhookTimeout    *jsonDuration `json:"webhook_timeout,omitempty"`
	ReceiveInvisible  *jsonDuration `json:"receive_invisible,omitempty"`
}

func (c *ConsumerConfig) durations() []*time.Duration {
	return []*time.Duration{&c.ConsumeTimeout, &c.Suspend, &c.RebalanceInterval, &c.WebhookTimeout, &c.ReceiveInvisible}
}

func (d *consumerDurations) fields() []**jsonDuration {
	return []**jsonDuration{&d.ConsumeTimeout, &d.Suspend, &d.RebalanceInterval, &d.WebhookTimeout, &d.ReceiveInvisible}
}

type plainConsumerConfig ConsumerConfig

// MarshalJSON writes the durations as strings ("5s").
func (c ConsumerConfig) MarshalJSON() ([]byte, error) {
	var d consumerDurations
	for i, v := range c.durations() {
		if *v != 0 {
			*d.fields()[i] = ptr(jsonDuration(*v))
		}
	}
	return json.Marshal(struct {
		plainConsumerConfig
		consumerDurations
	}{plainConsumerConfig(c), d})
}

// UnmarshalJSON reads the durations as strings ("5s"), strictly: unknown keys are
// refused, so that a typo is not a silently ignored setting.
func (c *ConsumerConfig) UnmarshalJSON(b []byte) error {
	var v struct {
		plainConsumerConfig
		consumerDurations
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return namedJSONError(b, err)
	}
	*c = ConsumerConfig(v.plainConsumerConfig)
	for i, f := range v.consumerDurations.fields() {
		if *f != nil {
			*c.durations()[i] = time.Duration(**f)
		}
	}
	return nil
}

// consumerDurationKeys are the JSON keys of consumerDurations, in the order of fields.
var consumerDurationKeys = func() []string {
	t := reflect.TypeFor[consumerDurations]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return keys
}()

// namedJSONError names the key of an error decoding b as the file and the API spell it:
// encoding/json names a mismatched field after the embedded struct it is in
// ("plainConsumerConfig.pull_batch_size"), and a duration that does not parse not at all.
func namedJSONError(b []byte, err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		named := *typ
		for _, embedded := range []string{"plainConsumerConfig.", "consumerDurations."} {
			named.Field = strings.TrimPrefix(named.Field, embedded)
		}
		return &named
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return err
	}
	for _, key := range consumerDurationKeys {
		v, ok := raw[key]
		if !ok || string(v) == "null" { // null leaves the default, as decoding does
			continue
		}
		var d jsonDuration
		if json.Unmarshal(v, &d) != nil {
			// Not wrapped: a type mismatch inside would read as the whole body's.
			return fmt.Errorf(`%s: %s is not a duration such as "10s"`, key, v)
		}
	}
	return err
}

// consumerPositions records where each [[consumer]] and each of its keys is.
func (f *fileErrors) consumerPositions(cfg *Config) {
	path := toml.Key{"consumer"}
	for i := range cfg.Consumers {
		c := &cfg.Consumers[i]
		c.pos = f.position(path, i)
		c.keyPos = map[string]string{}
		for _, k := range consumerKeys {
			if n := f.index().line(elementKey(path, i, k)); n > 0 {
				c.keyPos[k] = fmt.Sprintf("%s:%d", f.name, n)
			}
		}
		// Each subscription at its own line, which a multi-line array gives it.
		for j := range c.Subscriptions {
			if n := f.lineOfKey(elementKey(path, i, "subscriptions", "#"+strconv.Itoa(j+1))); n > 0 {
				c.keyPos[fmt.Sprintf("subscriptions[%d]", j)] = fmt.Sprintf("%s:%d", f.name, n)
			}
		}
	}
}

// consumerKeys are the keys of [[consumer]], from its fields' tags.
var consumerKeys = func() []string {
	t := reflect.TypeFor[ConsumerConfig]()
	var keys []string
	for i := range t.NumField() {
		if name := tomlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}()

// validateConsumers applies the defaults of every [[consumer]] and reports what cannot
// work; plugins are the [[plugin]]s of the file. With a plugin store, a name that is not a
// built-in strategy may be an uploaded plugin, which only the running gateway knows:
// Start and Reload check those names against the plugins in effect.
func (c *Config) validateConsumers() []error {
	var errs []error
	seen := map[string]bool{}
	store := c.Plugins.Dir != ""
	for i := range c.Consumers {
		cc := &c.Consumers[i]
		if cc.Group != "" && seen[cc.Group] {
			errs = append(errs, cc.fail("group", "a second [[consumer]] of that group"))
		}
		seen[cc.Group] = true
		errs = append(errs, cc.validate(func(name, slot string) bool {
			if store && !slices.Contains(builtinStrategies, name) {
				return true
			}
			return slices.ContainsFunc(c.Plugin, func(p PluginConfig) bool { return p.Name == name && p.Slot == slot })
		})...)
	}
	return errs
}

func (cc *ConsumerConfig) fail(key, format string, args ...any) error {
	base, _, _ := strings.Cut(key, "[")
	pos := cmp.Or(cc.keyPos[key], cc.keyPos[base], cc.pos)
	return &ConsumerConfigError{Pos: pos, Group: cc.Group, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// validate applies the defaults and reports every setting that cannot work. hasPlugin
// says whether a plugin of that name serves in that slot: a running gateway's loaded
// plugins (registry.has), or, validating a file, its [[plugin]]s.
func (cc *ConsumerConfig) validate(hasPlugin func(name, slot string) bool) []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, cc.fail(key, format, args...)) }

	if err := message.ValidateGroup(cc.Group); err != nil {
		bad("group", "%v", err)
	} else if cc.Group == message.DefaultConsumerGroup {
		bad("group", "%s is reserved", cc.Group)
	}
	if len(cc.Subscriptions) == 0 {
		bad("subscriptions", `none: want at least one { topic = "...", expression = "*" }`)
	}
	topics := map[string]bool{}
	for i := range cc.Subscriptions {
		s := &cc.Subscriptions[i]
		key := fmt.Sprintf("subscriptions[%d]", i)
		if err := message.ValidateTopic(s.Topic); err != nil {
			bad(key, "topic: %v", err)
		} else if topics[s.Topic] {
			bad(key, "topic %s is subscribed twice", s.Topic)
		}
		topics[s.Topic] = true
		if strings.TrimSpace(s.Expression) == "" {
			s.Expression = "*"
		} else if _, err := remoting.BuildSubscription(s.Topic, s.Expression); err != nil {
			bad(key, "expression %q: %v", s.Expression, err) // what Subscribe would refuse at start
		}
	}
	choose := func(key string, v *string, options ...string) {
		if *v == "" {
			*v = options[0]
			return
		}
		if !slices.Contains(options, *v) {
			bad(key, "%q: want %s", *v, strings.Join(options, " or "))
		}
	}
	choose("model", &cc.Model, ModelClustering, ModelBroadcasting)
	choose("order", &cc.Order, OrderConcurrently, OrderOrderly)
	choose("delivery", &cc.Delivery, DeliveryReceive, DeliveryWebhook)
	choose("consume_from", &cc.ConsumeFrom, "last", "first", "timestamp")
	if cc.ConsumeTimestamp != "" {
		if _, err := time.Parse(time.RFC3339, cc.ConsumeTimestamp); err != nil {
			bad("consume_timestamp", "%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", cc.ConsumeTimestamp)
		}
		if cc.ConsumeFrom != "timestamp" {
			bad("consume_timestamp", `set, but consume_from is %q: want consume_from = "timestamp"`, cc.ConsumeFrom)
		}
	}

	if cc.Allocate == "" {
		cc.Allocate = "averagely"
	}
	if !slices.Contains(builtinStrategies, cc.Allocate) && !hasPlugin(cc.Allocate, "allocate") {
		bad("allocate", "%q is neither a [[plugin]] of slot \"allocate\" nor a built-in strategy (%s)",
			cc.Allocate, strings.Join(builtinStrategies, ", "))
	}
	if _, err := cc.byConfigQueues(); err != nil {
		bad("allocate_queues", "%v", err)
	}
	if cc.Allocate == "byconfig" && len(cc.AllocateQueues) == 0 && !hasPlugin(cc.Allocate, "allocate") {
		bad("allocate_queues", `none: the byconfig strategy takes these queues, "topic/broker/queue_id"`)
	}
	if cc.Allocate == "machineroom" && len(cc.AllocateRooms) == 0 && !hasPlugin(cc.Allocate, "allocate") {
		bad("allocate_rooms", "none: the machineroom strategy takes the queues of the brokers of these rooms")
	}
	// A strategy's own key under another strategy would be ignored: the strategy meant
	// was left out.
	for _, k := range []struct {
		key, strategy string
		set           bool
	}{
		{"allocate_queues", "byconfig", len(cc.AllocateQueues) > 0},
		{"allocate_rooms", "machineroom", len(cc.AllocateRooms) > 0},
		{"allocate_virtual_nodes", "consistenthash", cc.AllocateVirtualNodes != 0},
	} {
		if k.set && cc.Allocate != k.strategy {
			bad(k.key, "set, but allocate is %q: want allocate = %q", cc.Allocate, k.strategy)
		}
	}
	switch {
	case cc.AllocateVirtualNodes < 0 || cc.AllocateVirtualNodes > MaxVirtualNodes:
		bad("allocate_virtual_nodes", "%d is out of 1..%d", cc.AllocateVirtualNodes, MaxVirtualNodes)
	case cc.AllocateVirtualNodes == 0 && cc.Allocate == "consistenthash":
		cc.AllocateVirtualNodes = allocate.DefaultVirtualNodes // an empty ring allocates nothing
	}
	if cc.ConsumeHooks != nil {
		for _, h := range *cc.ConsumeHooks {
			if !hasPlugin(h, "consume") {
				bad("consume_hooks", "%q is not a [[plugin]] of slot \"consume\"", h)
			}
		}
	}

	if n := cc.MaxReconsumeTimes; n != nil && (*n < 0 || *n > 10000) {
		bad("max_reconsume_times", "%d is out of 0..10000", *n)
	}
	// A delivery's own keys under the other delivery would be ignored: the delivery
	// meant was left out. (Their defaults apply to their delivery only, so that this
	// holds when validating again.)
	if cc.Delivery == DeliveryReceive || cc.Delivery == DeliveryWebhook {
		for _, k := range []struct {
			key, delivery string
			set           bool
		}{
			{"webhook_timeout", DeliveryWebhook, cc.WebhookTimeout != 0},
			{"webhook_concurrency", DeliveryWebhook, cc.WebhookConcurrency != 0},
			{"receive_max_inflight", DeliveryReceive, cc.ReceiveMaxInFlight != 0},
			{"receive_invisible", DeliveryReceive, cc.ReceiveInvisible != 0},
		} {
			if k.set && cc.Delivery != k.delivery {
				bad(k.key, "set, but delivery is %q: want delivery = %q", cc.Delivery, k.delivery)
			}
		}
	}
	webhook, receive := cc.Delivery == DeliveryWebhook, cc.Delivery == DeliveryReceive
	ints := []struct {
		key      string
		v        *int
		def, max int
		apply    bool // the default
	}{
		{"pull_batch_size", &cc.PullBatchSize, 0, 1024, true},
		{"pull_threshold", &cc.PullThreshold, 0, 65535, true},
		{"webhook_concurrency", &cc.WebhookConcurrency, DefaultWebhookConcurrency, 1000, webhook},
		{"webhook_batch", &cc.WebhookBatch, 1, 1024, true},
		{"receive_max_inflight", &cc.ReceiveMaxInFlight, DefaultReceiveMaxInFlight, 1 << 20, receive},
	}
	for _, n := range ints {
		switch {
		case *n.v < 0 || *n.v > n.max:
			bad(n.key, "%d is out of 0..%d", *n.v, n.max)
		case *n.v == 0 && n.apply:
			*n.v = n.def
		}
	}
	if cc.PullThreshold == 0 && cc.Delivery == DeliveryReceive {
		cc.PullThreshold = DefaultReceivePullThreshold
	}
	durations := []struct {
		key   string
		v     *time.Duration
		def   time.Duration
		apply bool
	}{
		{"consume_timeout", &cc.ConsumeTimeout, 0, true},
		{"suspend", &cc.Suspend, 0, true},
		{"rebalance_interval", &cc.RebalanceInterval, 0, true},
		{"webhook_timeout", &cc.WebhookTimeout, DefaultWebhookTimeout, webhook},
		{"receive_invisible", &cc.ReceiveInvisible, DefaultReceiveInvisible, receive},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			bad(d.key, "%v is negative", *d.v)
		case *d.v == 0 && d.apply:
			*d.v = d.def
		}
	}
	if cc.RebalanceInterval != 0 && cc.RebalanceInterval < consumer.MinRebalanceInterval {
		bad("rebalance_interval", "%v is under %v: every rebalance asks a broker for the group's members", cc.RebalanceInterval, consumer.MinRebalanceInterval)
	}
	if cc.Suspend != 0 && (cc.Suspend < minSuspend || cc.Suspend > maxSuspend) {
		bad("suspend", "%v is out of %v..%v", cc.Suspend, minSuspend, maxSuspend) // the consumer would clamp it
	}
	if cc.ReceiveInvisible > MaxReceiveInvisible {
		bad("receive_invisible", "%v exceeds %v", cc.ReceiveInvisible, MaxReceiveInvisible)
	}
	if cc.Delivery == DeliveryReceive {
		if cc.ConsumeTimeout == 0 {
			cc.ConsumeTimeout = receiveConsumeTimeout
		}
		if cc.ReceiveInvisible > cc.ConsumeTimeout {
			bad("receive_invisible", "%v exceeds consume_timeout %v: a lease cannot outlive the delivery", cc.ReceiveInvisible, cc.ConsumeTimeout)
		}
	}

	// The push consumer fails a concurrent delivery older than consume_timeout and sends
	// its messages back: a POST still in flight then would be POSTed again beside it.
	if consumeTimeout := cmp.Or(cc.ConsumeTimeout, consumer.DefaultConsumeTimeout); cc.Delivery == DeliveryWebhook &&
		cc.Order == OrderConcurrently && cc.WebhookTimeout > consumeTimeout {
		const why = "a POST still in flight would be sent back and POSTed again"
		if cc.keyPos["webhook_timeout"] == "" && cc.keyPos["consume_timeout"] != "" {
			bad("consume_timeout", "%v is under webhook_timeout %v: %s", consumeTimeout, cc.WebhookTimeout, why)
		} else {
			bad("webhook_timeout", "%v exceeds consume_timeout %v: %s", cc.WebhookTimeout, consumeTimeout, why)
		}
	}

	webhookKeys := cc.WebhookURL != "" || len(cc.WebhookHeaders) > 0
	switch {
	case cc.Delivery == DeliveryWebhook && cc.WebhookURL == "":
		bad("webhook_url", `empty: delivery = "webhook" POSTs to this http(s) URL`)
	case cc.Delivery == DeliveryWebhook:
		u, err := url.Parse(cc.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("webhook_url", "%q is not an http(s) URL", cc.WebhookURL)
		}
	case webhookKeys:
		bad("webhook_url", `set, but delivery is %q: want delivery = "webhook"`, cc.Delivery)
	}
	for name, v := range cc.WebhookHeaders {
		// Checked as net/http checks them at every POST, which would fail each one.
		if !isToken(name) {
			bad("webhook_headers", "%q is not a header name (letters, digits and !#$%%&'*+-.^_`|~)", name)
		}
		if i := badHeaderByte(v); i >= 0 {
			// The value is not shown: it is often a secret.
			bad("webhook_headers", "%q: the value has a control character at byte %d (a trailing newline?)", name, i)
		}
		switch http.CanonicalHeaderKey(name) {
		case "Content-Length", "Transfer-Encoding", "Trailer": // net/http would drop them
			bad("webhook_headers", "%q is set by the gateway for each POST", name)
		case "Host":
			if strings.ContainsFunc(v, func(r rune) bool { return r >= utf8.RuneSelf || !validHostByte(byte(r)) }) {
				bad("webhook_headers", "%q: %q is not a host[:port]", name, v)
			}
		}
	}
	if cc.Delivery == DeliveryReceive && cc.WebhookBatch > 1 {
		bad("webhook_batch", `set, but delivery is %q: a receive chooses its own max`, cc.Delivery)
	}
	return errs
}

// badHeaderByte returns the index of the first byte of v that net/http refuses in a
// header value (a control character but tab), or -1.
func badHeaderByte(v string) int {
	return strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}

// validHostByte reports whether net/http takes c in a Host header (httpguts'
// ValidHostHeader, which fails the request otherwise).
func validHostByte(c byte) bool {
	alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	return alnum || strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0
}

// isToken reports whether s is an RFC 7230 token, what a header name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// byConfigQueues parses AllocateQueues, "topic/broker/queue_id".
func (cc *ConsumerConfig) byConfigQueues() ([]queueRef, error) {
	out := make([]queueRef, 0, len(cc.AllocateQueues))
	for _, s := range cc.AllocateQueues {
		parts := strings.Split(s, "/")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
			return nil, fmt.Errorf("%q: want topic/broker/queue_id", s)
		}
		id, err := strconv.Atoi(parts[2])
		if err != nil || id < 0 || id > 1<<20 {
			return nil, fmt.Errorf("%q: queue id %q is not a number", s, parts[2])
		}
		out = append(out, queueRef{parts[0], parts[1], int32(id)})
	}
	return out, nil
}

type queueRef struct {
	topic, broker string
	id            int32
}

// consumeTimestamp returns the parsed ConsumeTimestamp, zero when not set.
func (cc *ConsumerConfig) consumeTimestamp() time.Time {
	t, _ := time.Parse(time.RFC3339, cc.ConsumeTimestamp)
	return t
}

// maxReconsumeTimes is max_reconsume_times as the consumer takes it: 0 for the default,
// consumer.NoReconsume for the file's 0.
func (cc *ConsumerConfig) maxReconsumeTimes() int {
	switch n := cc.MaxReconsumeTimes; {
	case n == nil:
		return 0
	case *n == 0:
		return consumer.NoReconsume
	default:
		return *n
	}
}
