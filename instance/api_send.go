package instance

import (
	"context"

	"github.com/mqgate/mqgate/remoting"
)

// defaultRegionID is the region of a send result whose broker named none (Java's
// MixAll.DEFAULT_TRACE_REGION_ID).
const defaultRegionID = "DefaultRegion"

// sendCode is the request code of a send: SEND_BATCH_MESSAGE for a batch, otherwise
// SEND_MESSAGE_V2, the compact header Java sends by default (sendSmartMsg).
func sendCode(h *remoting.SendRequest) remoting.RequestCode {
	if h.Batch {
		return remoting.SendBatchMessage
	}
	return remoting.SendMessageV2
}

// SendMessage sends one message (or, with h.Batch, a batch) to the broker brokerName at
// addr and waits for the answer, as Java's MQClientAPIImpl.sendMessage in SYNC mode: h is
// the request header the producer built (properties encoded, queue chosen), body the
// message body (compressed, or the batch encoding), msgID the message's unique id
// (UNIQ_KEY; for a batch the ids joined by commas), which the result carries.
//
// A broker's refusal is a *BrokerError (errors.Is(err, ErrSystemBusy), ...); SUCCESS,
// FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and SLAVE_NOT_AVAILABLE are results (see
// SendStatus). Pass a ctx with a deadline: without one, RequestTimeout applies at the cost
// of a timer. Beyond what the transport allocates for the response, the call allocates
// nothing. h and body may be reused once it returns.
func (i *Instance) SendMessage(ctx context.Context, addr, brokerName string, h *remoting.SendRequest,
	body []byte, msgID string) (SendResult, error) {
	code := sendCode(h)
	req := i.pooledRequest(code, h.V2())
	req.Body = body
	resp, err := i.invoke(ctx, addr, req)
	putRequest(req)
	if err != nil {
		return SendResult{}, err
	}
	return sendResult(resp, addr, brokerName, h.Topic, msgID, code)
}

// SendMessageAsync sends like SendMessage and returns once the request is sent; cb gets the
// result or the error exactly once, on a transport goroutine (it must not block), when
// SendMessageAsync returns nil. h and body may be reused once it returns. Unlike Java's
// async send it does not retry: retries are the producer's business.
func (i *Instance) SendMessageAsync(ctx context.Context, addr, brokerName string, h *remoting.SendRequest,
	body []byte, msgID string, cb func(SendResult, error)) error {
	code := sendCode(h)
	hdr := *h // AfterResponse hooks may read the header after we returned
	req := i.request(code, hdr.V2())
	req.Body = body
	return i.invokeAsync(ctx, addr, req, func(resp *remoting.Command, err error) {
		if err != nil {
			cb(SendResult{}, err)
			return
		}
		cb(sendResult(resp, addr, brokerName, hdr.Topic, msgID, code))
	})
}

// SendMessageOneway sends without waiting for any answer (Java's ONEWAY mode).
func (i *Instance) SendMessageOneway(ctx context.Context, addr string, h *remoting.SendRequest, body []byte) error {
	req := i.pooledRequest(sendCode(h), h.V2())
	req.Body = body
	err := i.invokeOneway(ctx, addr, req)
	putRequest(req)
	return err
}

// sendResult turns a send's response into a result, as Java's
// MQClientAPIImpl.processSendResponse.
func sendResult(resp *remoting.Command, addr, brokerName, topic, msgID string, code remoting.RequestCode) (SendResult, error) {
	var status SendStatus
	switch resp.ResponseCode() {
	case remoting.Success:
		status = SendOK
	case remoting.FlushDiskTimeout:
		status = FlushDiskTimeout
	case remoting.FlushSlaveTimeout:
		status = FlushSlaveTimeout
	case remoting.SlaveNotAvailable:
		status = SlaveNotAvailable
	default:
		return SendResult{}, brokerError(resp, addr, code)
	}
	var h remoting.SendResponse
	if err := h.DecodeFields(resp.Ext); err != nil {
		return SendResult{}, decodeError("response header", code, addr, err)
	}
	region := h.Region
	if region == "" {
		region = defaultRegionID
	}
	return SendResult{
		Status:        status,
		MsgID:         msgID,
		OffsetMsgID:   h.MsgID,
		Queue:         MessageQueue{Topic: topic, BrokerName: brokerName, QueueID: h.QueueID},
		QueueOffset:   h.QueueOffset,
		TransactionID: h.TransactionID,
		RegionID:      region,
		TraceOn:       h.TraceOn != "false",
	}, nil
}
