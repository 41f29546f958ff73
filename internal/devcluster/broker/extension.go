package broker

import (
	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// Extension points. The broker's optional parts — the delay (schedule) service, the
// consumer send-back, transactions and ACL — live in files of their own, each adding an
// extension from an init function:
//
//	func init() { extensions = append(extensions, extension{name: "schedule", install: installSchedule}) }
//
// install runs in New after the core handlers are registered and before any handler is
// served. It may:
//   - b.handle(code, h): add or replace a request handler (CONSUMER_SEND_MSG_BACK,
//     END_TRANSACTION, ...); until then those codes answer REQUEST_CODE_NOT_SUPPORTED;
//   - append to b.putHooks: rewrite a single message on the send path before it is
//     stored, or answer the send itself;
//   - append to b.storeHooks: rewrite every message the broker stores through the send
//     path or b.putInner, as Java's CommitLog.asyncPutMessage does whoever calls it (the
//     delay service moves a DELAY message to SCHEDULE_TOPIC_XXXX);
//   - append to b.arrivals: be told when a message enters a consume queue (the delay
//     service wakes the level that got a message);
//   - set b.prepareTransaction: take half messages (TRAN_MSG=true), which the broker
//     otherwise refuses as Java's rejectTransactionMessage does (NO_PERMISSION);
//   - append to b.wrappers: wrap every handler (ACL checks the signature first), and set
//     b.aclEnabled (New refuses a Config.ACL nobody handles);
//   - append to b.services: goroutines run from Start until Shutdown cancels their ctx;
//   - append to b.onDisconnect and b.onShutdown.
//
// Messages an extension stores go through b.putInner (the store hooks apply: Java's
// MessageStore.asyncPutMessage) or b.putMessage (stored as it is); both wake the long
// polls of its queue.
var extensions []extension

type extension struct {
	name    string
	install func(b *Broker) error
}

// handlerWrapper wraps the handler of one request code; wrappers apply in order, the
// fault injector outside all of them.
type handlerWrapper func(code remoting.RequestCode, h netpoll.Handler) netpoll.Handler

// putHook sees a single message after Java's msgCheck, handleRetryAndDLQ and properties
// handling, before the store. It rewrites sc.msg (Topic, QueueID, SysFlag, and properties
// through sc.setProperty) or returns a response, which answers the send with nothing
// stored. Hooks run in order; prepareTransaction runs first for half messages.
type putHook func(b *Broker, sc *sendContext) *remoting.Command

// storeHook rewrites a message on its way into the store (Topic, QueueID and the
// properties in props); it reports whether it changed anything. An error fails the put,
// as an exception thrown in Java's CommitLog: the send answers SYSTEM_ERROR with the
// error's text.
type storeHook func(m *message.Ext, props *javaProps) (bool, error)

// sendContext is one message of SEND_MESSAGE or SEND_MESSAGE_V2 on its way to the store.
type sendContext struct {
	conn   *netpoll.Conn
	req    *remoting.Command
	header *remoting.SendRequest // as received (V2 requests converted)
	topic  *remoting.TopicConfig // the requested topic
	// queueID is the queue answered to the producer (Java's queueIdInt): the requested
	// one, or random; the stored message's QueueID may differ once rewritten.
	queueID int32
	msg     *message.Ext
	// props are msg's properties as Java's HashMap holds them after the send path: CLUSTER
	// added, WAIT removed for the stored string and put back (so a hook that re-serializes
	// them writes WAIT again, as Java's delay and transaction code do).
	props      *javaProps
	propsDirty bool
}

// property returns a property of the message.
func (sc *sendContext) property(name string) (string, bool) { return sc.props.get(name) }

// setProperty puts a property (MessageAccessor.putProperty); the stored properties are
// re-serialized in Java's order once the hooks have run.
func (sc *sendContext) setProperty(name, value string) {
	sc.props.put(name, value)
	sc.propsDirty = true
}

// handle registers h for code, replacing any handler.
func (b *Broker) handle(code remoting.RequestCode, h netpoll.Handler) { b.handlers[code] = h }

// putInner stores a message the broker built itself (a send-back, a committed
// transaction) as Java's MessageStore.asyncPutMessage does: the store hooks rewrite it,
// then m's properties are props in Java's order.
func (b *Broker) putInner(m *message.Ext, props *javaProps) (store.PutResult, error) {
	for _, hook := range b.storeHooks {
		if _, err := hook(m, props); err != nil {
			return store.PutResult{}, err
		}
	}
	props.writeTo(&m.Properties)
	return b.putMessage(m)
}

// putMessage stores m and wakes the long polls of its queue.
func (b *Broker) putMessage(m *message.Ext) (store.PutResult, error) {
	r, err := b.store.Put(m)
	if err == nil || r.StoreSize > 0 {
		b.arrived(m, r.QueueOffset+1)
	}
	return r, err
}

// arrived wakes the pulls held on m's queue (Java's NotifyMessageArrivingListener); a
// message that enters no consume queue wakes nothing.
func (b *Broker) arrived(m *message.Ext, maxOffset int64) {
	switch message.TransactionType(m.SysFlag) {
	case message.SysFlagTransactionPrepared, message.SysFlagTransactionRollback:
		return
	}
	b.holds.arrived(m.Topic, m.QueueID, maxOffset)
	for _, f := range b.arrivals {
		f(m.Topic, m.QueueID)
	}
}

// NotifyMessageArriving wakes the pulls held on a queue, for a store written by someone
// else than this broker (the store's OnArrival callback). The broker's own puts notify
// already.
func (b *Broker) NotifyMessageArriving(topic string, queueID int32, maxOffset int64) {
	b.holds.arrived(topic, queueID, maxOffset)
	for _, f := range b.arrivals {
		f(topic, queueID)
	}
}
