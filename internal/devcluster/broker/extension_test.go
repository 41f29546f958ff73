package broker

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// withExtension installs ext for the brokers the test starts.
func withExtension(t *testing.T, ext extension) {
	t.Helper()
	saved := extensions
	extensions = append(append([]extension(nil), extensions...), ext)
	t.Cleanup(func() { extensions = saved })
}

// withoutExtensions leaves the named extensions out of the brokers the test starts.
func withoutExtensions(t *testing.T, names ...string) {
	t.Helper()
	saved := extensions
	extensions = nil
	for _, ext := range saved {
		if !slices.Contains(names, ext.name) {
			extensions = append(extensions, ext)
		}
	}
	t.Cleanup(func() { extensions = saved })
}

// delayLikeJava rewrites a message as CommitLog.asyncPutMessage's delay branch does (the
// schedule extension's store hook, left out here).
func delayLikeJava(_ *Broker, sc *sendContext) *remoting.Command {
	v, ok := sc.property(message.PropertyDelayTimeLevel)
	level, err := strconv.Atoi(v)
	if !ok || err != nil || level <= 0 {
		return nil
	}
	sc.setProperty(message.PropertyRealTopic, sc.msg.Topic)
	sc.setProperty(message.PropertyRealQueueID, strconv.Itoa(int(sc.msg.QueueID)))
	sc.msg.Topic, sc.msg.QueueID = message.SystemTopicSchedule, int32(level-1)
	return nil
}

func TestPutHooksRewriteMessagesAsJavasDelayCodeDoes(t *testing.T) {
	withoutExtensions(t, "schedule")
	withExtension(t, extension{name: "delay", install: func(b *Broker) error {
		b.putHooks = append(b.putHooks, delayLikeJava)
		return nil
	}})
	tb := startBroker(t, nil)
	frames := recorded.MustLoad(t)
	req, err := remoting.DecodeFrame(recorded.Find(t, frames, "011-send-json-req310.bin").Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp := tb.invoke(req)
	if resp.Code != 0 {
		t.Fatalf("send: %d %s", resp.Code, resp.Remark)
	}
	// The stored message has what Java's schedule topic holds (recording 385 shows it
	// once delivered, REAL_TOPIC and REAL_QID still in place): WAIT back in the map after
	// the send path removed it, REAL_TOPIC and REAL_QID in HashMap order.
	got := tb.pull(pullHeader("g", message.SystemTopicSchedule, 1, 0, "*"))
	if len(got.msgs) != 1 {
		t.Fatalf("schedule queue 1: %s %q", got.code, got.remark)
	}
	want := props("REAL_TOPIC", "RecTopic", "KEYS", "delay-1", "UNIQ_KEY", "FD00000000000000000000000000000218CA5FFD2B277BA66B0D0001",
		"CLUSTER", "DefaultCluster", "DELAY", "2", "WAIT", "true", "TAGS", "TagD", "REAL_QID", "0")
	if p := got.msgs[0].Properties.Encode(); p != want {
		t.Errorf("stored properties\n got %q\nJava %q", p, want)
	}
	// The producer is answered with the queue it asked for.
	if q := resp.Ext.Get("queueId"); q != "0" {
		t.Errorf("answered queue %s", q)
	}
}

func TestExtensionsWrapHandlersTakeHalfMessagesAndRunServices(t *testing.T) {
	var wrapped, prepared atomic.Int32
	stopped := make(chan struct{})
	withExtension(t, extension{name: "test", install: func(b *Broker) error {
		b.wrappers = append(b.wrappers, func(code remoting.RequestCode, h netpoll.Handler) netpoll.Handler {
			return func(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
				if code == remoting.SendMessageV2 {
					wrapped.Add(1)
				}
				return h(ctx, c, req)
			}
		})
		b.prepareTransaction = func(_ *Broker, sc *sendContext) *remoting.Command {
			prepared.Add(1)
			sc.msg.Topic, sc.msg.QueueID = message.SystemTopicTransactionHalf, 0
			sc.msg.SysFlag &^= message.SysFlagTransactionMask
			return nil
		}
		b.services = append(b.services, func(ctx context.Context) {
			<-ctx.Done()
			close(stopped)
		})
		b.aclEnabled = true
		return nil
	}})
	tb := startBroker(t, func(c *Config) { c.ACL = &ACLConfig{GlobalWhiteRemoteAddresses: []string{"127.0.0.1"}} })
	tb.createTopic("X", 1)
	req := sendRequest("X", 0, []byte("half"), props("TRAN_MSG", "true", "PGROUP", "pg"))
	req.Header.(*remoting.SendRequestV2).SysFlag = message.SysFlagTransactionPrepared
	if resp := tb.invoke(req); resp.Code != 0 {
		t.Fatalf("half message: %d %s", resp.Code, resp.Remark)
	}
	if wrapped.Load() != 1 || prepared.Load() != 1 || tb.store.MaxOffset(message.SystemTopicTransactionHalf, 0) != 1 {
		t.Errorf("wrapped %d prepared %d", wrapped.Load(), prepared.Load())
	}
	if err := tb.b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the service was not stopped")
	}
}

func TestACLWithoutAnACLExtensionIsRefused(t *testing.T) {
	withoutExtensions(t, "acl")
	ln, _ := listen(t)
	defer ln.Close()
	tb := startBroker(t, nil)
	if _, err := New(Config{Listener: ln, Store: tb.store, ACL: &ACLConfig{}}); err == nil {
		t.Error("New accepted an ACL config nobody enforces")
	}
}
