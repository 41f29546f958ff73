package producer

import (
	"compress/flate"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/telemetry"
)

// Defaults, those of Java's DefaultMQProducer in 4.9.4 unless said otherwise.
const (
	DefaultSendTimeout           = 3 * time.Second // sendMsgTimeout
	DefaultRetriesWhenSyncFailed = 2               // retryTimesWhenSendFailed
	DefaultRetriesWhenAsync      = 2               // retryTimesWhenSendAsyncFailed
	DefaultMaxMessageSize        = message.DefaultMaxBodySize
	DefaultCompressThreshold     = message.DefaultCompressThreshold
	DefaultCompressLevel         = message.DefaultCompressLevel
	DefaultTopicQueueNums        = 4 // defaultTopicQueueNums
	DefaultCreateTopicKey        = message.AutoCreateTopicKey

	DefaultCoalesceMaxMessages = 32      // the batch size the broker stores fastest
	DefaultCoalesceMaxBytes    = 1 << 20 // 1 MiB of encoded batch body
)

// Config configures a Producer. Only Group is required: Validate, called once by New, fills
// in the defaults. Integer settings whose zero value would be a legal setting take 0 as
// "the default" and a negative value as "none" (see each field).
type Config struct {
	// Group is the producer group (required). With a Namespace it is sent as
	// "namespace%group", as Java's DefaultMQProducer.start wraps it.
	Group string
	// SendTimeout bounds a whole send, retries included (Java's sendMsgTimeout); a context
	// deadline that comes first wins. Default 3s.
	SendTimeout time.Duration
	// RetriesWhenSyncFailed is how many times Send (and SendBatch) sends again, to
	// another broker when there is one, after a failure worth retrying (Java's
	// retryTimesWhenSendFailed). 0 means the default, 2; a negative value means never.
	RetriesWhenSyncFailed int
	// RetriesWhenAsyncFailed is the same for SendAsync, which Java retries only when no
	// answer came (retryTimesWhenSendAsyncFailed). 0 means the default, 2; negative, never.
	RetriesWhenAsyncFailed int
	// RetryAnotherBroker sends again, to another broker, a message the broker stored but
	// answered FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE (Java's
	// retryAnotherBrokerWhenNotStoreOK); default false: such a result is returned.
	RetryAnotherBroker bool
	// MaxMessageSize bounds a body, and the encoded body of a batch (Java's
	// maxMessageSize); default 4 MiB. Larger messages fail with message.ErrMessageTooLarge.
	MaxMessageSize int
	// CompressThreshold: a single message's body of at least this many bytes is sent
	// zlib-compressed (Java's compressMsgBodyOverHowmuch); default 4096; negative: never.
	// Batches are never compressed, as in Java.
	CompressThreshold int
	// CompressLevel is the zlib level, 1 to 9; default 5 (rocketmq.message.compressLevel).
	CompressLevel int
	// DefaultTopicQueueNums is the queue count of a topic created on its first message
	// through CreateTopicKey (Java's defaultTopicQueueNums); default 4.
	DefaultTopicQueueNums int
	// CreateTopicKey is the template topic of auto-created topics; default "TBW102".
	CreateTopicKey string
	// LatencyFaultTolerance turns on Java's latency fault strategy
	// (sendLatencyFaultEnable): a broker that answered slowly, or failed, is avoided for a
	// while (see fault.go). Default false: round robin that only avoids, on a retry, the
	// broker that just failed.
	LatencyFaultTolerance bool
	// Namespace, when set, prefixes topics and the group as "namespace%name" on the wire
	// (Java's NamespaceUtil.wrapNamespace) and is removed from what callers get back.
	Namespace string
	// Coalesce lets concurrent single sends to one queue share a SEND_BATCH_MESSAGE; see
	// CoalesceConfig. Off by default.
	Coalesce CoalesceConfig
	// Hooks see every message sent, in order (see instance.SendHook and hooks.go).
	Hooks []instance.SendHook
	// TransactionChecker answers the brokers' CHECK_TRANSACTION_STATE about half messages
	// of this group; without one such checks are logged and left unanswered (the broker
	// asks again, then rolls back).
	TransactionChecker TransactionChecker
	// Logger defaults to the instance's logger.
	Logger *slog.Logger
	// Telemetry, when set, traces and measures the sends (telemetry.go); nil is off.
	Telemetry *telemetry.Instruments

	// Resolved by Validate.
	retriesSync, retriesAsync int
}

// CoalesceConfig configures the coalescing of concurrent single sends: per queue, one
// request in flight; the callers that arrive meanwhile wait and go together as one
// SEND_BATCH_MESSAGE when it completes, each still getting its own result (message id,
// offset message id, queue offset). See coalesce.go for which messages qualify and what
// ordering it keeps.
type CoalesceConfig struct {
	Enabled bool
	// MaxMessages bounds a batch; default 32.
	MaxMessages int
	// MaxBytes bounds a batch's encoded body; default 1 MiB, at most MaxMessageSize.
	// A message larger than this is sent on its own.
	MaxBytes int
	// Linger is how long the first caller to an idle queue waits for others before
	// sending, at most half the time its send has left. 0 (default): it sends at once,
	// and a batch holds only what queued while a send to the queue was in flight.
	Linger time.Duration
}

// Validate applies the defaults and reports the first invalid setting.
func (c *Config) Validate() error {
	if c.Group == "" {
		return errors.New("producer config: Group is required")
	}
	if err := message.ValidateGroup(c.Group); err != nil {
		return fmt.Errorf("producer config: %w", err)
	}
	if c.Group == message.DefaultProducerGroup {
		return fmt.Errorf("producer config: Group %q is reserved", c.Group)
	}
	if c.Namespace != "" {
		if err := message.ValidateGroup(c.Namespace); err != nil || strings.Contains(c.Namespace, "%") {
			return fmt.Errorf("producer config: Namespace %q: only ^[|a-zA-Z0-9_-]+$ allowed", c.Namespace)
		}
		if err := message.ValidateGroup(wrapNamespace(c.Namespace, c.Group)); err != nil {
			return fmt.Errorf("producer config: Group with Namespace: %w", err)
		}
	}
	switch {
	case c.SendTimeout == 0:
		c.SendTimeout = DefaultSendTimeout
	case c.SendTimeout < 0:
		return fmt.Errorf("producer config: SendTimeout %v is negative", c.SendTimeout)
	}
	c.retriesSync = retries(c.RetriesWhenSyncFailed, DefaultRetriesWhenSyncFailed)
	c.retriesAsync = retries(c.RetriesWhenAsyncFailed, DefaultRetriesWhenAsync)
	switch {
	case c.MaxMessageSize == 0:
		c.MaxMessageSize = DefaultMaxMessageSize
	case c.MaxMessageSize < 0:
		return fmt.Errorf("producer config: MaxMessageSize %d is negative", c.MaxMessageSize)
	}
	if c.CompressThreshold == 0 {
		c.CompressThreshold = DefaultCompressThreshold
	}
	switch {
	case c.CompressLevel == 0:
		c.CompressLevel = DefaultCompressLevel
	case c.CompressLevel < flate.BestSpeed || c.CompressLevel > flate.BestCompression:
		return fmt.Errorf("producer config: CompressLevel %d out of 1..9", c.CompressLevel)
	}
	switch {
	case c.DefaultTopicQueueNums == 0:
		c.DefaultTopicQueueNums = DefaultTopicQueueNums
	case c.DefaultTopicQueueNums < 0:
		return fmt.Errorf("producer config: DefaultTopicQueueNums %d is negative", c.DefaultTopicQueueNums)
	}
	if c.CreateTopicKey == "" {
		c.CreateTopicKey = DefaultCreateTopicKey
	} else if err := message.ValidateTopic(c.CreateTopicKey); err != nil {
		return fmt.Errorf("producer config: CreateTopicKey: %w", err)
	}
	if err := c.Coalesce.validate(c.MaxMessageSize); err != nil {
		return err
	}
	for i, h := range c.Hooks {
		if h == nil {
			return fmt.Errorf("producer config: Hooks[%d] is nil", i)
		}
	}
	return nil
}

func (c *CoalesceConfig) validate(maxMessageSize int) error {
	switch {
	case c.MaxMessages == 0:
		c.MaxMessages = DefaultCoalesceMaxMessages
	case c.MaxMessages < 0:
		return fmt.Errorf("producer config: Coalesce.MaxMessages %d is negative", c.MaxMessages)
	}
	switch {
	case c.MaxBytes == 0:
		c.MaxBytes = min(DefaultCoalesceMaxBytes, maxMessageSize)
	case c.MaxBytes < 0 || c.MaxBytes > maxMessageSize:
		return fmt.Errorf("producer config: Coalesce.MaxBytes %d out of 1..MaxMessageSize (%d)", c.MaxBytes, maxMessageSize)
	}
	if c.Linger < 0 {
		return fmt.Errorf("producer config: Coalesce.Linger %v is negative", c.Linger)
	}
	return nil
}

// retries resolves a retry count: 0 is the default, negative none.
func retries(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}
