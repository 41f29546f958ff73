package broker

import (
	"context"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The store maintenance requests of AdminBrokerProcessor (mqadmin cleanExpiredCQ,
// deleteExpiredCommitLog, cleanUnusedTopic): Java runs the store's clean-up at once and
// answers SUCCESS. The dev store has nothing to run: it retains by size as it writes,
// moving the consume queues' min offsets past what it drops (cleanExpiredConsumerQueue's
// and the manual file deletion's work), and keeps a deleted topic's queues (which
// cleanUnusedTopic would drop) as DELETE_TOPIC_IN_BROKER does. So each only answers.
func (b *Broker) handleStoreMaintenance(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	b.log.Warn("broker: store maintenance requested, nothing to do", "code", remoting.RequestCode(req.Code))
	return response(req, remoting.Success, "")
}
