package producer

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// endTransactions waits for n END_TRANSACTION requests at b and decodes them.
func endTransactions(t *testing.T, b *fakeBroker, n int) ([]remoting.EndTransactionRequest, []string) {
	t.Helper()
	waitFor(t, "END_TRANSACTION", func() bool { return b.Count(remoting.EndTransaction) >= n })
	var hs []remoting.EndTransactionRequest
	var remarks []string
	for _, req := range b.Requests(remoting.EndTransaction) {
		var h remoting.EndTransactionRequest
		if err := h.DecodeFields(req.Ext); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		remarks = append(remarks, req.Remark)
	}
	return hs, remarks
}

func TestSendInTransaction(t *testing.T) {
	ns, brokers := fakeCluster(t, "Tx", 1, "a")
	b := brokers[0]
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{Group: "txg", Coalesce: CoalesceConfig{Enabled: true}})
	for k, tc := range []struct {
		name   string
		local  func(context.Context, *message.Message) LocalTransactionState
		status remoting.ResponseCode
		state  LocalTransactionState
		remark string
	}{
		{"a committed local transaction commits", func(context.Context, *message.Message) LocalTransactionState { return CommitMessage },
			remoting.Success, CommitMessage, ""},
		{"a rolled back one rolls back", func(context.Context, *message.Message) LocalTransactionState { return RollbackMessage },
			remoting.Success, RollbackMessage, ""},
		{"an unknown one is left for the check", func(context.Context, *message.Message) LocalTransactionState { return Unknown },
			remoting.Success, Unknown, ""},
		{"a panic counts as unknown, with the reason", func(context.Context, *message.Message) LocalTransactionState { panic("db down") },
			remoting.Success, Unknown, "executeLocalTransactionBranch exception: db down"},
		{"a half message not flushed is rolled back without running local", func(context.Context, *message.Message) LocalTransactionState {
			t.Error("local ran")
			return CommitMessage
		}, remoting.FlushDiskTimeout, RollbackMessage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.setAnswer(func(req *remoting.Command) *remoting.Command {
				resp := b.stored(req)
				resp.Code = int32(tc.status)
				resp.Header.(*remoting.SendResponse).TransactionID = "TXID"
				return resp
			})
			defer b.setAnswer(nil)
			m := newMessage("Tx", "half")
			m.SetDelayLevel(2)
			var seenID string
			local := func(ctx context.Context, msg *message.Message) LocalTransactionState {
				seenID = msg.UniqKey()
				return tc.local(ctx, msg)
			}
			r, err := p.SendInTransaction(bg(t), m, local)
			if err != nil {
				t.Fatal(err)
			}
			if r.State != tc.state || r.MsgID != m.UniqKey() || tc.status == remoting.Success && seenID != r.MsgID {
				t.Fatalf("result %+v, local saw %q", r, seenID)
			}
			send := b.Requests(remoting.SendMessageV2)[k]
			var h remoting.SendRequestV2
			_ = h.DecodeFields(send.Ext)
			props := message.ParseProperties(h.Properties)
			if h.SysFlag&message.SysFlagTransactionPrepared == 0 || props.Get(message.PropertyTransactionPrepared) != "true" ||
				props.Get(message.PropertyProducerGroup) != "txg" || props.Get(message.PropertyDelayTimeLevel) != "" {
				t.Fatalf("half message sent with sysFlag %#x, properties %q", h.SysFlag, h.Properties)
			}
			ends, remarks := endTransactions(t, b, k+1)
			end := ends[k]
			_, offset, _ := message.ParseOffsetMsgID(r.OffsetMsgID)
			if end.CommitOrRollback != tc.state.commitOrRollback() || end.ProducerGroup != "txg" || end.MsgID != r.MsgID ||
				end.TranStateTableOffset != r.QueueOffset || end.CommitLogOffset != offset || end.TransactionID != "TXID" ||
				end.FromTransactionCheck || remarks[k] != tc.remark {
				t.Fatalf("END_TRANSACTION %+v remark %q for %+v", end, remarks[k], r)
			}
		})
	}
	t.Run("a send that fails returns its error and ends nothing", func(t *testing.T) {
		_, err := p.SendInTransaction(bg(t), newMessage("Tx", ""), func(context.Context, *message.Message) LocalTransactionState {
			return CommitMessage
		})
		if !errors.Is(err, message.ErrInvalid) {
			t.Fatalf("error %v", err)
		}
	})
}

// The broker's CHECK_TRANSACTION_STATE reaches the TransactionChecker, whose verdict goes
// back as END_TRANSACTION from the check.
func TestTransactionCheck(t *testing.T) {
	ns, brokers := fakeCluster(t, "TxCheck", 1, "a")
	b := brokers[0]
	inst := startInstance(t, instanceConfig(ns.Addr()))
	asked := make(chan *message.Ext, 1)
	p := startProducer(t, inst, Config{Group: "txg", Namespace: "ns1",
		TransactionChecker: TransactionCheckerFunc(func(_ context.Context, msg *message.Ext) LocalTransactionState {
			asked <- msg
			return CommitMessage
		})})
	if _, err := p.Send(bg(t), newMessage("TxCheck", "open the connection")); err != nil {
		t.Fatal(err)
	}
	half := &message.Ext{Message: message.Message{Topic: "ns1%TxCheck", Body: []byte("half")},
		QueueOffset: 7, CommitLogOffset: 4096, StoreHost: netip.MustParseAddrPort(b.Addr()),
		SysFlag: message.SysFlagTransactionPrepared}
	half.Properties.Set(message.PropertyUniqKey, "UNIQ1")
	half.Properties.Set(message.PropertyProducerGroup, "ns1%txg")
	half.Properties.Set(message.PropertyTransactionPrepared, "true")
	body, err := message.AppendStored(nil, half)
	if err != nil {
		t.Fatal(err)
	}
	req := remoting.NewRequest(remoting.CheckTransactionState, &remoting.CheckTransactionStateRequest{
		TranStateTableOffset: 7, CommitLogOffset: 4096, MsgID: "UNIQ1", TransactionID: "TX9", OffsetMsgID: half.OffsetMsgID()})
	req.Body = body
	if err := b.Conn().InvokeOneway(bg(t), req); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-asked:
		if msg.Topic != "TxCheck" || string(msg.Body) != "half" || msg.UniqKey() != "UNIQ1" {
			t.Fatalf("checker asked about %+v", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the checker was not asked")
	}
	ends, _ := endTransactions(t, b, 1)
	if e := ends[0]; e.CommitOrRollback != remoting.TransactionCommitType || !e.FromTransactionCheck || e.MsgID != "UNIQ1" ||
		e.TransactionID != "TX9" || e.TranStateTableOffset != 7 || e.CommitLogOffset != 4096 || e.ProducerGroup != "ns1%txg" {
		t.Fatalf("END_TRANSACTION %+v", e)
	}
}

// Against the dev broker's transactions (when it has them): commit, rollback, and unknown
// then checked.
func TestTransactionsAgainstTheDevCluster(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{TransactionTimeout: 50 * time.Millisecond, TransactionCheckInterval: 50 * time.Millisecond})
	inst := startInstance(t, instanceConfig(c.NameServerAddr()))
	transactionScenario(t, inst, c.BrokerAddr(), "TxDev")
}

// transactionScenario sends three transactional messages (commit, rollback, unknown
// resolved by the checker as commit) and checks what consumers can see.
func transactionScenario(t *testing.T, inst *instance.Instance, brokerAddr, topic string) {
	checked := make(chan string, 8)
	p := startProducer(t, inst, Config{Group: topic + "_pg",
		TransactionChecker: TransactionCheckerFunc(func(_ context.Context, msg *message.Ext) LocalTransactionState {
			select {
			case checked <- string(msg.Body):
			default:
			}
			return CommitMessage
		})})
	send := func(body string, state LocalTransactionState) instance.SendResult {
		r, err := p.SendInTransaction(bg(t), newMessage(topic, body), func(context.Context, *message.Message) LocalTransactionState {
			return state
		})
		if errors.Is(err, instance.ErrNoPermission) && strings.Contains(err.Error(), "transaction message is forbidden") {
			t.Skipf("the broker does not take transactional messages yet: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.State != state {
			t.Fatalf("state %v, want %v", r.State, state)
		}
		return r.SendResult
	}
	committed := send("commit", CommitMessage)
	send("rollback", RollbackMessage)
	unknown := send("unknown", Unknown)
	select {
	case body := <-checked:
		if body != "unknown" {
			t.Fatalf("checker asked about %q", body)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the broker never checked the unknown transaction")
	}
	queues := int32(4)
	waitFor(t, "the committed and checked messages visible", func() bool {
		bodies := map[string]bool{}
		for _, m := range pullTopic(t, inst, brokerAddr, topic, queues) {
			bodies[string(m.Body)] = true
			if m.UniqKey() == committed.MsgID && string(m.Body) != "commit" || m.UniqKey() == unknown.MsgID && string(m.Body) != "unknown" {
				t.Fatalf("message %s is %q", m.UniqKey(), m.Body)
			}
		}
		if bodies["rollback"] {
			t.Fatal("the rolled back message is visible")
		}
		return bodies["commit"] && bodies["unknown"]
	})
}

// Shutdown waits for a transaction check under way only while its context allows: a
// checker stuck on a call that ignores its context does not hold it for ever.
func TestShutdownHonoursItsContextWhileACheckRuns(t *testing.T) {
	ns, _ := fakeCluster(t, "Tx", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	block := make(chan struct{})
	defer close(block)
	var started atomic.Bool
	p, err := New(inst, Config{Group: "pgtx", Logger: discard, TransactionChecker: TransactionCheckerFunc(
		func(context.Context, *message.Ext) LocalTransactionState {
			started.Store(true)
			<-block // a checker stuck on a database call that ignores ctx
			return Unknown
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ext := &message.Ext{}
	ext.Topic = "Tx"
	p.CheckTransactionState(context.Background(), "127.0.0.1:1", ext, &remoting.CheckTransactionStateRequest{})
	waitFor(t, "the check to start", started.Load)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "transaction checks still running") {
			t.Fatalf("Shutdown = %v, want its context's error naming the checks", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown with a 200 ms context still waits for the stuck checker")
	}
}
