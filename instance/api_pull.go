package instance

import (
	"context"

	"github.com/mqgate/mqgate/remoting"
)

// PullStatus is the outcome of a pull, as Java's PullStatus.
type PullStatus uint8

const (
	// PullFound: messages were found; the body holds them (SUCCESS).
	PullFound PullStatus = iota
	// PullNoNewMsg: the queue has nothing at or after the offset (PULL_NOT_FOUND).
	PullNoNewMsg
	// PullNoMatchedMsg: messages were there, none matched the filter
	// (PULL_RETRY_IMMEDIATELY).
	PullNoMatchedMsg
	// PullOffsetIllegal: the offset is outside the queue (PULL_OFFSET_MOVED).
	PullOffsetIllegal
)

var pullStatusNames = [...]string{"FOUND", "NO_NEW_MSG", "NO_MATCHED_MSG", "OFFSET_ILLEGAL"}

func (s PullStatus) String() string {
	if int(s) < len(pullStatusNames) {
		return pullStatusNames[s]
	}
	return "PullStatus(?)"
}

// PullResult is a broker's answer to a pull, as Java's PullResultExt before decoding:
// decoding the body (message.Decoder.DecodeStored) and filtering by tag is the consumer's
// job.
type PullResult struct {
	Status          PullStatus
	NextBeginOffset int64
	MinOffset       int64
	MaxOffset       int64
	// SuggestWhichBrokerID is the broker (0 the master, else a slave) to pull from next.
	SuggestWhichBrokerID int64
	// Body holds the stored messages back to back (FOUND only). It is the response's own
	// copy: keep it as long as needed.
	Body []byte
}

// PullMessage pulls from the broker at addr and waits for the answer (Java's
// MQClientAPIImpl.pullMessage, SYNC). A long-polling pull (PullFlagSuspend) needs a ctx
// whose deadline is past h.SuspendTimeoutMillis (Java's push consumer: 15 s suspended, 30 s
// timeout). Answers other than the four statuses are a *BrokerError.
func (i *Instance) PullMessage(ctx context.Context, addr string, h *remoting.PullRequest) (PullResult, error) {
	req := i.pooledRequest(remoting.PullMessage, h)
	resp, err := i.invoke(ctx, addr, req)
	putRequest(req)
	if err != nil {
		return PullResult{}, err
	}
	return pullResult(resp, addr)
}

// PullMessageAsync pulls like PullMessage and returns once the request is sent; cb gets the
// result or the error exactly once, on a transport goroutine (it must not block), when
// PullMessageAsync returns nil (Java's ASYNC pull with its PullCallback). h may be reused
// once it returns.
func (i *Instance) PullMessageAsync(ctx context.Context, addr string, h *remoting.PullRequest,
	cb func(PullResult, error)) error {
	hdr := *h // AfterResponse hooks may read the header after we returned
	return i.invokeAsync(ctx, addr, i.request(remoting.PullMessage, &hdr), func(resp *remoting.Command, err error) {
		if err != nil {
			cb(PullResult{}, err)
			return
		}
		cb(pullResult(resp, addr))
	})
}

// pullResult turns a pull's response into a result, as Java's processPullResponse.
func pullResult(resp *remoting.Command, addr string) (PullResult, error) {
	var status PullStatus
	switch resp.ResponseCode() {
	case remoting.Success:
		status = PullFound
	case remoting.PullNotFound:
		status = PullNoNewMsg
	case remoting.PullRetryImmediately:
		status = PullNoMatchedMsg
	case remoting.PullOffsetMoved:
		status = PullOffsetIllegal
	default:
		return PullResult{}, brokerError(resp, addr, remoting.PullMessage)
	}
	var h remoting.PullResponse
	if err := h.DecodeFields(resp.Ext); err != nil {
		return PullResult{}, decodeError("response header", remoting.PullMessage, addr, err)
	}
	r := PullResult{
		Status:               status,
		NextBeginOffset:      h.NextBeginOffset,
		MinOffset:            h.MinOffset,
		MaxOffset:            h.MaxOffset,
		SuggestWhichBrokerID: h.SuggestWhichBrokerID,
	}
	if status == PullFound {
		r.Body = resp.Body
	}
	return r, nil
}
