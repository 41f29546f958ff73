package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mqgate/mqgate/instance/consumer"
	"github.com/mqgate/mqgate/message"
)

// Webhook delivery: each delivery (one message, or up to webhook_batch of one queue) is
// POSTed to webhook_url as JSON — the message object of the receive API without a
// receipt handle, or {"messages": [...]} for batches. A 2xx answer acknowledges; any
// other answer, a transport error or the timeout means retry later: the push consumer
// sends the messages back (%RETRY%group, the broker's delay levels) and, after
// max_reconsume_times, to %DLQ%group. Orderly consumers keep per-queue order: a queue's
// next delivery waits for the previous one, which an orderly failure suspends and POSTs
// again. Broadcasting consumers, which have no retry topic, retry a failed POST in place
// (back-off from 100ms to 30s, max_reconsume_times times, and only while the retry can
// end within consume_timeout of the delivery) and then drop the messages, logged and
// counted as failed, as Java's broadcasting consumers do at once. A stop ends the retries
// without dropping: the messages are delivered again after the restart.
//
// Stopping (Shutdown, RemoveConsumer) drains: no new POST starts, and those under way
// finish while the stop's budget allows, their answers counting as usual (an ack's
// offset is persisted, a failure sent back); the consumer then cuts those still running,
// whose messages are delivered again later.
//
// Concurrency: concurrent consumers POST from the push consumer's worker pool, sized
// webhook_concurrency; orderly ones from each queue's goroutine, at most
// webhook_concurrency at once. No goroutine is started per message.
//
// An orderly queue that moves to another gateway (one joins or leaves) while its delivery
// waits for a free slot is handed on at once: the delivery is unclaimed meanwhile
// (consumer.Delivery.Unclaim), so the push consumer withdraws it and unlocks the queue. A
// POST under way is waited for, up to webhook_timeout, and its answer still counts; the
// queue's next owner POSTs nothing of it meanwhile. A stop likewise withdraws at once the
// deliveries waiting for a slot and unlocks their queues; a POST under way is drained as
// above and its queue unlocked once it is answered, but one cut when the stop's budget
// ends leaves its queue locked until the broker's lock expires (60 s): the application
// may still be handling the message.
//
// Headers: Content-Type: application/json, X-Mqgate-Group, X-Mqgate-Message-Id (the
// first message's; left out for an id no header value can hold, which only the body then
// carries), X-Mqgate-Reconsume-Times (the first message's), X-Mqgate-Count, and
// webhook_headers (a Host among them replaces the URL's). A failed answer may carry
// X-Mqgate-Delay-Level: the delay level of the retry (1..18; -1 sends the messages to the
// dead letter queue at once), instead of the broker's 3 + reconsume times.

// newWebhookClient is the HTTP client every webhook of a gateway shares.
func newWebhookClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A POST goes out in one write while headers and body fit the write buffer. Past
		// it, net/http copies the rest of the body through a buffer it allocates for the
		// POST (up to 32 KiB), in two more writes: a batch of 32 1 KiB messages cost
		// ~30% more a POST with the default 4 KiB (BenchmarkWebhookPost).
		WriteBufferSize: webhookWriteBuffer,
	}
	return &http.Client{Transport: tr,
		// A redirect would turn the POST into a GET: the webhook must answer itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// webhookWriteBuffer is a webhook connection's write buffer: a POST of 32 messages of
// 1 KiB and their JSON fits.
const webhookWriteBuffer = 64 << 10

// The back-off of a broadcasting consumer's POSTs retried in place.
const (
	localRetryMin = 100 * time.Millisecond
	localRetryMax = 30 * time.Second
)

// maxDelayLevel bounds the delay level a webhook may ask for: a broker has 18 by default,
// and takes the last for any level beyond its own.
const maxDelayLevel = 18

// webhook is a consumer's webhook Handler.
type webhook struct {
	url     string
	shown   string // url without credentials: what errors and the status show
	timeout time.Duration
	headers map[string]string
	group   string
	batch   bool
	client  *http.Client
	sem     chan struct{} // bounds the POSTs of orderly queues
	noteErr func(error)
	log     *slog.Logger
	// local retries failed POSTs in place, up to tries times and within consumeTimeout
	// of the delivery (the push consumer fails a delivery older than that, and a POST
	// after it would be one of a message given up): broadcasting consumption has no retry
	// topic (Java drops what failed).
	local          bool
	tries          int
	consumeTimeout time.Duration
}

func newWebhook(cc *ConsumerConfig, client *http.Client, noteErr func(error), log *slog.Logger) *webhook {
	w := &webhook{url: cc.WebhookURL, shown: redactedURL(cc.WebhookURL), timeout: cc.WebhookTimeout, headers: cc.WebhookHeaders, group: cc.Group,
		batch: cc.WebhookBatch > 1, client: client, sem: make(chan struct{}, cc.WebhookConcurrency), noteErr: noteErr, log: log,
		local: cc.Model == ModelBroadcasting && cc.Order != OrderOrderly, tries: 1 + consumer.DefaultMaxReconsumeTimes,
		consumeTimeout: cmp.Or(cc.ConsumeTimeout, consumer.DefaultConsumeTimeout)}
	if n := cc.MaxReconsumeTimes; n != nil {
		w.tries = 1 + *n
	}
	return w
}

// redactedURL is raw without what may be a secret (user info, query, fragment): errors
// reach the consumer's status, served without a token, and the log.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(the webhook URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// WebhookError is a POST that did not acknowledge its messages.
type WebhookError struct {
	URL string // without credentials or query

	Status int // 0 for a transport error or the timeout
	Err    error
}

func (e *WebhookError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("webhook %s answered %d", e.URL, e.Status)
	}
	return fmt.Sprintf("webhook %s: %v", e.URL, e.Err)
}

func (e *WebhookError) Unwrap() error { return e.Err }

// Consume implements consumer.Handler: POST, then ack or retry.
func (w *webhook) Consume(ctx context.Context, d *consumer.Delivery) {
	if d.Orderly() {
		d.Unclaim() // waiting for a slot, not consumed: a queue dropped meanwhile moves on
		select {
		case w.sem <- struct{}{}:
			defer func() { <-w.sem }()
		case <-d.Withdrawn():
			return // the queue left, or the consumer stops: the next owner POSTs the messages
		case <-ctx.Done():
			return // the stop's drain ended: not completed, consumed again
		}
		if !d.Claim() {
			return // withdrawn, or about to be, as the slot came
		}
	}
	delayLevel, err := w.post(ctx, d.Messages())
	if err != nil && w.local && ctx.Err() == nil {
		delayLevel, err = w.retryLocally(ctx, d, err)
	}
	switch {
	case err == nil:
		_ = d.Ack()
	case ctx.Err() != nil || errors.Is(err, errStopped):
		// The consumer stops: leave the delivery uncompleted, so that its messages are
		// consumed again rather than sent back (or, broadcasting, dropped).
	default:
		w.noteErr(err)
		_ = d.Retry(delayLevel)
	}
}

// errStopped ends a broadcasting delivery's retries when its consumer stops.
var errStopped = errors.New("the consumer stopped")

// retryLocally POSTs d again after err, with back-off, until a POST succeeds, tries POSTs
// were made, the next one could not end within consumeTimeout of the delivery, the
// consumer completed d (its consume timeout) or stops (errStopped). It returns the last
// POST's outcome.
func (w *webhook) retryLocally(ctx context.Context, d *consumer.Delivery, err error) (delayLevel int, _ error) {
	posts := 1
	for backoff := localRetryMin; ; backoff = min(2*backoff, localRetryMax) {
		why := ""
		switch {
		case posts >= w.tries:
			why = "max_reconsume_times"
		case time.Since(d.Started())+backoff+w.timeout > w.consumeTimeout:
			why = "consume_timeout"
		}
		if why != "" {
			// Given up: the push consumer drops the messages (and logs each).
			w.log.Warn("gateway: broadcasting webhook failed; the messages are dropped", "group", w.group,
				"posts", posts, "limit", why, "msgId", d.Messages()[0].MsgID(), "messages", len(d.Messages()), "err", err)
			return delayLevel, fmt.Errorf("%w; dropped after %d POSTs (%s)", err, posts, why)
		}
		w.noteErr(err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-d.Stopping():
		}
		t.Stop()
		switch {
		case ctx.Err() != nil:
			return delayLevel, ctx.Err()
		case d.Completed(): // failed by the consumer's consume timeout meanwhile: dropped
			return delayLevel, err
		}
		select {
		case <-d.Stopping():
			return delayLevel, errStopped
		default:
		}
		delayLevel, err = w.post(ctx, d.Messages())
		posts++
		if err == nil {
			return 0, nil
		}
	}
}

// post POSTs a delivery's messages; a failed answer may name the retry's delay level.
func (w *webhook) post(ctx context.Context, msgs []*message.Ext) (delayLevel int, _ error) {
	// A fresh buffer per POST: the transport may still be writing a body after Do
	// returned (an early answer), so bodies are not pooled.
	size := 0
	for _, m := range msgs {
		size += messageJSONSize(m)
	}
	body := make([]byte, 0, size)
	if w.batch {
		body = append(body, `{"messages":[`...)
		for i, m := range msgs {
			if i > 0 {
				body = append(body, ',')
			}
			body = appendMessage(body, m, "")
		}
		body = append(body, "]}"...)
	} else {
		body = appendMessage(body, msgs[0], "")
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, &WebhookError{URL: w.shown, Err: err}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-Mqgate-Group", w.group)
	// The id is the producer's (any client may set UNIQ_KEY): one net/http refuses as a
	// header value would fail every POST of the message; the body carries it whole.
	if id := msgs[0].MsgID(); badHeaderByte(id) < 0 {
		h.Set("X-Mqgate-Message-Id", id)
	}
	h.Set("X-Mqgate-Reconsume-Times", strconv.Itoa(int(msgs[0].ReconsumeTimes)))
	h.Set("X-Mqgate-Count", strconv.Itoa(len(msgs)))
	for k, v := range w.headers {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v // net/http sends Request.Host, never a Host of Header
			continue
		}
		h.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error // its text repeats the URL, credentials included
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, &WebhookError{URL: w.shown, Err: err}
	}
	// Read a little of the answer so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if n, err := strconv.Atoi(resp.Header.Get("X-Mqgate-Delay-Level")); err == nil && n >= -1 && n <= maxDelayLevel {
			delayLevel = n
		}
		return delayLevel, &WebhookError{URL: w.shown, Status: resp.StatusCode}
	}
	return 0, nil
}
