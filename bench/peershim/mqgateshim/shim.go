// Package mqgateshim is copied by bench/peer.sh into a scratch copy of rocketmq-client-go
// v2.1.2, where it may import the peer's internal packages, and re-exports what mqgate's
// side-by-side benchmarks drive. mqgate's own code.
package mqgateshim

import (
	"context"

	"github.com/apache/rocketmq-client-go/v2/internal"
	"github.com/apache/rocketmq-client-go/v2/internal/remote"
)

// Command is the peer's RemotingCommand.
type Command = remote.RemotingCommand

// SendRequest holds the fields of a SEND_MESSAGE request header.
type SendRequest struct {
	Group, Topic, Properties string
	QueueID                  int
	BornTimestamp            int64
	V2                       bool
}

// NewSendCommand builds a send request the way the peer's producer does.
func NewSendCommand(r SendRequest, body []byte) *Command {
	h := &internal.SendMessageRequestHeader{
		ProducerGroup:         r.Group,
		Topic:                 r.Topic,
		QueueId:               r.QueueID,
		BornTimestamp:         r.BornTimestamp,
		Properties:            r.Properties,
		DefaultTopic:          "TBW102",
		DefaultTopicQueueNums: 4,
	}
	if r.V2 {
		return remote.NewRemotingCommand(310, &internal.SendMessageRequestV2Header{SendMessageRequestHeader: h}, body)
	}
	return remote.NewRemotingCommand(internal.ReqSendMessage, h, body)
}

// NewCommand builds a request with the given code, extFields and body.
func NewCommand(code int16, ext map[string]string, body []byte) *Command {
	c := remote.NewRemotingCommand(code, nil, body)
	for k, v := range ext {
		c.ExtFields[k] = v
	}
	return c
}

// Encode, Decode and the serialization switches are the peer's codec.
var (
	Encode      = remote.Encode
	Decode      = remote.Decode
	UseJSON     = remote.UseJSON
	UseRocketMQ = remote.UseRocketMQ
)

// Client is the peer's remoting client.
type Client struct{ c remote.RemotingClient }

// NewClient returns a peer remoting client with its default configuration.
func NewClient() *Client { return &Client{c: remote.NewRemotingClient(nil)} }

// InvokeSync is the peer's synchronous request.
func (c *Client) InvokeSync(ctx context.Context, addr string, cmd *Command) (*Command, error) {
	return c.c.InvokeSync(ctx, addr, cmd)
}

// Shutdown closes the peer client.
func (c *Client) Shutdown() { c.c.ShutDown() }
