package instance

import (
	"context"
	"errors"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// GetRouteInfo asks a NameServer for topic's route (Java's getTopicRouteInfoFromNameServer)
// without touching the cache; UpdateTopicRoute is the call that caches. A topic the
// NameServers do not know is a *BrokerError matching ErrTopicNotExist.
func (i *Instance) GetRouteInfo(ctx context.Context, topic string) (*remoting.TopicRouteData, error) {
	req := i.request(remoting.GetRouteInfoByTopic, &remoting.RouteInfoRequest{Topic: topic})
	resp, addr, err := i.invokeNameServer(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, remoting.GetRouteInfoByTopic); err != nil {
		return nil, err
	}
	route := new(remoting.TopicRouteData)
	if err := route.Decode(resp.Body); err != nil {
		return nil, decodeError("route of "+topic, remoting.GetRouteInfoByTopic, addr, err)
	}
	return route, nil
}

// GetClusterInfo asks a NameServer for every broker and cluster it knows (Java's
// getBrokerClusterInfo).
func (i *Instance) GetClusterInfo(ctx context.Context) (*remoting.ClusterInfo, error) {
	resp, addr, err := i.invokeNameServer(ctx, i.request(remoting.GetBrokerClusterInfo, nil))
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, remoting.GetBrokerClusterInfo); err != nil {
		return nil, err
	}
	info := new(remoting.ClusterInfo)
	if err := info.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.GetBrokerClusterInfo, addr, err)
	}
	return info, nil
}

// CreateTopic creates or updates a topic on the broker at addr (Java's createTopic, an
// admin call: the broker registers the topic with the NameServers at its next
// registration).
func (i *Instance) CreateTopic(ctx context.Context, addr string, h *remoting.CreateTopicRequest) error {
	return i.call(ctx, addr, remoting.UpdateAndCreateTopic, h, nil)
}

// viewMessageRequest is Java's ViewMessageRequestHeader (VIEW_MESSAGE_BY_ID, 33).
type viewMessageRequest struct{ offset int64 }

func (h *viewMessageRequest) EncodeFields(w *remoting.FieldWriter) { w.Int("offset", h.offset) }

// ViewMessage reads the message stored at commitLogOffset on the broker at addr (Java's
// viewMessage; the offset is the one in an offset message id, see
// message.ParseOffsetMsgID).
func (i *Instance) ViewMessage(ctx context.Context, addr string, commitLogOffset int64) (*message.Ext, error) {
	resp, err := i.invoke(ctx, addr, i.request(remoting.ViewMessageByID, &viewMessageRequest{offset: commitLogOffset}))
	if err != nil {
		return nil, err
	}
	if err := expect(resp, addr, remoting.ViewMessageByID); err != nil {
		return nil, err
	}
	msgs, err := message.DecodeStored(resp.Body)
	if err == nil && len(msgs) == 0 {
		err = errors.New("empty body")
	}
	if err != nil {
		return nil, decodeError("message", remoting.ViewMessageByID, addr, err)
	}
	return &msgs[0], nil
}

// GetConsumerConnectionList returns a group's connected consumers and subscriptions as the
// broker at addr knows them (Java's getConsumerConnectionList).
func (i *Instance) GetConsumerConnectionList(ctx context.Context, addr, group string) (*remoting.ConsumerConnection, error) {
	h := &remoting.ConsumerConnectionListRequest{ConsumerGroup: group}
	resp, err := i.invoke(ctx, addr, i.request(remoting.GetConsumerConnectionList, h))
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, remoting.GetConsumerConnectionList); err != nil {
		return nil, err
	}
	cc := new(remoting.ConsumerConnection)
	if err := cc.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.GetConsumerConnectionList, addr, err)
	}
	return cc, nil
}

// GetConsumerRunningInfo asks, through the broker at addr, the client clientID of group
// for its running info (Java's getConsumerRunningInfo; the broker forwards it as
// GET_CONSUMER_RUNNING_INFO). jstack asks for a thread (goroutine) dump too.
func (i *Instance) GetConsumerRunningInfo(ctx context.Context, addr, group, clientID string, jstack bool) (*remoting.ConsumerRunningInfo, error) {
	h := &remoting.ConsumerRunningInfoRequest{ConsumerGroup: group, ClientID: clientID, JstackEnable: jstack}
	resp, err := i.invoke(ctx, addr, i.request(remoting.GetConsumerRunningInfo, h))
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, remoting.GetConsumerRunningInfo); err != nil {
		return nil, err
	}
	info := new(remoting.ConsumerRunningInfo)
	if err := info.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.GetConsumerRunningInfo, addr, err)
	}
	return info, nil
}

// ConsumeMessageDirectly asks, through the broker at addr, the client clientID of group to
// consume the message msgID (an offset message id) and report how it went (Java's
// consumeMessageDirectly, an admin call).
func (i *Instance) ConsumeMessageDirectly(ctx context.Context, addr, group, clientID, msgID string) (*remoting.ConsumeMessageDirectlyResult, error) {
	h := &remoting.ConsumeMessageDirectlyRequest{ConsumerGroup: group, ClientID: clientID, MsgID: msgID}
	resp, err := i.invoke(ctx, addr, i.request(remoting.ConsumeMessageDirectly, h))
	if err != nil {
		return nil, err
	}
	if err := expectBody(resp, addr, remoting.ConsumeMessageDirectly); err != nil {
		return nil, err
	}
	r := new(remoting.ConsumeMessageDirectlyResult)
	if err := r.Decode(resp.Body); err != nil {
		return nil, decodeError("body", remoting.ConsumeMessageDirectly, addr, err)
	}
	return r, nil
}

// expectBody is expect for answers that must carry a body: Java treats a SUCCESS without
// one as a failure.
func expectBody(resp *remoting.Command, addr string, code remoting.RequestCode) error {
	if resp.ResponseCode() == remoting.Success && len(resp.Body) > 0 {
		return nil
	}
	return brokerError(resp, addr, code)
}
