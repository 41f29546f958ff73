package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

func TestHalfMessagesAreRefusedWithoutTheTransactionExtension(t *testing.T) {
	withoutExtensions(t, "transaction")
	tb := startBroker(t, nil)
	tb.createTopic("B", 2)
	resp := tb.invoke(sendRequest("B", 0, []byte("half"), props("TRAN_MSG", "true", "PGROUP", "pg")))
	if resp.Code != int32(remoting.NoPermission) || resp.Remark != "the broker[127.0.0.1] sending transaction message is forbidden" {
		t.Errorf("answered %s %q", remoting.ResponseCode(resp.Code), resp.Remark)
	}
	if resp := tb.invoke(request(remoting.EndTransaction, &remoting.EndTransactionRequest{ProducerGroup: "pg",
		CommitOrRollback: remoting.TransactionCommitType})); resp.Code != int32(remoting.RequestCodeNotSupported) {
		t.Errorf("END_TRANSACTION answered %s %q", remoting.ResponseCode(resp.Code), resp.Remark)
	}
}

// txProducer is a client connection registered as a producer of group, recording the
// CHECK_TRANSACTION_STATE requests the broker sends it.
type txProducer struct {
	cl     *netpoll.Client
	checks chan *remoting.Command
}

func newTxProducer(t *testing.T, tb *testBroker, group string) *txProducer {
	t.Helper()
	p := &txProducer{cl: newClient(t), checks: make(chan *remoting.Command, 16)}
	p.cl.Handle(remoting.CheckTransactionState, func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		p.checks <- req
		return nil
	})
	hb := remoting.HeartbeatData{ClientID: "192.0.2.2@" + group, Producers: []remoting.ProducerData{{GroupName: group}}}
	if resp := invokeWith(t, p.cl, tb.addr, &remoting.Command{Code: int32(remoting.Heartbeat), Version: remoting.Version494,
		Body: hb.Encode()}); resp.Code != 0 {
		t.Fatalf("heartbeat: %d %s", resp.Code, resp.Remark)
	}
	return p
}

func (p *txProducer) nextCheck(t *testing.T) *remoting.Command {
	t.Helper()
	select {
	case req := <-p.checks:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("no CHECK_TRANSACTION_STATE")
		return nil
	}
}

func (p *txProducer) noCheck(t *testing.T) {
	t.Helper()
	select {
	case req := <-p.checks:
		t.Fatalf("unexpected CHECK_TRANSACTION_STATE %v", req.Ext)
	default:
	}
}

// recordedTxBirth is just after the transaction-json recording's half message was born,
// so that its ages are those of the recording.
var recordedTxBirth = time.UnixMilli(1_795_565_750_100)

// checkRound advances the clock past the check interval and runs a check round as the
// service would, synchronously.
func checkRound(tb *testBroker, fake *clock.Fake, d time.Duration) {
	fake.Advance(d)
	tb.b.txn.check(context.Background())
}

func TestTransactionsAreHeldCheckedAndEndedAsJava(t *testing.T) {
	tb, fake := clockedBrokerAt(t, recordedTxBirth, func(c *Config) { c.BrokerName = "broker-tap"; c.TransactionCheckInterval = time.Hour })
	r := &replayer{t: t, tb: tb, frames: recorded.MustLoad(t)}
	producer := newTxProducer(t, tb, "rec_tx_pg")
	r.send(producer.cl, "403-transaction-json-req34.bin") // the recorded producer's heartbeat (408)
	// The half message (401, RecTxTopic created from TBW102) is answered as 407: its real
	// queue, its offset in the half queue.
	r.send(producer.cl, "401-transaction-json-req310.bin")
	half := tb.messagesIn(message.SystemTopicTransactionHalf, 0)
	if len(half) != 1 || half[0].SysFlag != 0 || half[0].Properties.Get("REAL_TOPIC") != "RecTxTopic" ||
		half[0].Properties.Get("REAL_QID") != "0" || len(tb.messagesIn("RecTxTopic", 0)) != 0 {
		t.Fatalf("half queue %+v", half)
	}
	// The producer's UNKNOW (402, oneway) changes nothing and is answered nothing.
	r.send(producer.cl, "402-transaction-json-req37.bin")

	// Not due within the transaction timeout (6s after its birth)...
	checkRound(tb, fake, 5*time.Second)
	producer.noCheck(t)
	// ...then checked (409): about a copy stored in the half queue, its check counted.
	checkRound(tb, fake, 2*time.Second)
	check := producer.nextCheck(t)
	want := r.command(r.frame("409-transaction-json-req39.bin"))
	var keys, wantKeys []string
	for _, f := range check.Ext {
		keys = append(keys, f.Key)
	}
	for _, f := range want.Ext {
		wantKeys = append(wantKeys, f.Key)
	}
	if check.Flag != want.Flag || check.Language != want.Language || check.Version != want.Version || len(keys) != len(wantKeys) {
		t.Errorf("check flag %d %s %d fields %v, Java %d %s %d %v", check.Flag, check.Language, check.Version, keys,
			want.Flag, want.Language, want.Version, wantKeys)
	}
	var h remoting.CheckTransactionStateRequest
	if err := h.DecodeFields(check.Ext); err != nil {
		t.Fatal(err)
	}
	copies := tb.messagesIn(message.SystemTopicTransactionHalf, 0)
	if len(copies) != 2 || h.TranStateTableOffset != 1 || h.CommitLogOffset != copies[1].CommitLogOffset ||
		h.OffsetMsgID != copies[1].OffsetMsgID() || h.MsgID != want.Ext.Get("msgId") || h.TransactionID != want.Ext.Get("transactionId") {
		t.Errorf("check header %+v; copies %d", h, len(copies))
	}
	if got := copies[1].Properties.Get("TRANSACTION_CHECK_TIMES"); got != "1" || copies[1].Properties.Get("WAIT") != "true" {
		t.Errorf("copy stored with check times %q WAIT %q", got, copies[1].Properties.Get("WAIT"))
	}
	r.compareMessages("409-transaction-json-req39.bin", check.Body, want.Body)

	// The producer's answer from the check (404): commit, to the copy's offsets.
	end := r.command(r.frame("404-transaction-json-req37.bin"))
	end.Ext.Set("commitLogOffset", strconv.FormatInt(h.CommitLogOffset, 10))
	end.Flag &^= remoting.FlagOneway // to see the answer
	if resp := tb.invoke(end); resp.Code != 0 || resp.Remark != "" || len(resp.Ext) != 0 {
		t.Fatalf("commit answered %d %q %v", resp.Code, resp.Remark, resp.Ext)
	}
	committed := tb.messagesIn("RecTxTopic", 0)
	if len(committed) != 1 || committed[0].SysFlag != message.SysFlagTransactionCommit ||
		committed[0].PreparedTransactionOffset != h.CommitLogOffset ||
		committed[0].Properties.Encode() != copies[1].Properties.Encode() {
		t.Fatalf("committed %+v", committed)
	}
	ops := tb.messagesIn(message.SystemTopicTransactionOpHalf, 0)
	if len(ops) != 1 || string(ops[0].Body) != "1" || ops[0].Properties.Encode() != props("WAIT", "true", "TAGS", "d") { // in HashMap order
		t.Fatalf("op messages %+v", ops)
	}
	// Decided: the next round checks nothing and moves both offsets past it.
	checkRound(tb, fake, time.Minute)
	producer.noCheck(t)
	if h, o := tb.b.offsets.query(message.SystemTransactionCheckGroup, message.SystemTopicTransactionHalf, 0),
		tb.b.offsets.query(message.SystemTransactionCheckGroup, message.SystemTopicTransactionOpHalf, 0); h != 2 || o != 1 {
		t.Errorf("check offsets half %d op %d, want 2 and 1", h, o)
	}
	r.send(producer.cl, "405-transaction-json-req35.bin") // unregister (410, 411)
	r.send(producer.cl, "406-transaction-json-req35.bin")
}

func TestEndTransactionAnswersAsJava(t *testing.T) {
	tb, _ := clockedBrokerAt(t, time.Now(), nil)
	tb.createTopic("X", 2)
	sendHalf := func() remoting.SendResponse {
		return tb.send("X", 1, "half", props("TRAN_MSG", "true", "PGROUP", "pg", "UNIQ_KEY", "U1"))
	}
	end := func(r remoting.SendResponse, edit func(*remoting.EndTransactionRequest)) *remoting.Command {
		_, off, _ := message.ParseOffsetMsgID(r.MsgID)
		h := &remoting.EndTransactionRequest{ProducerGroup: "pg", TranStateTableOffset: r.QueueOffset, CommitLogOffset: off,
			CommitOrRollback: remoting.TransactionCommitType, MsgID: "U1"}
		if edit != nil {
			edit(h)
		}
		return request(remoting.EndTransaction, h)
	}
	committed := sendHalf()
	rolledBack := sendHalf()
	for _, tc := range []struct {
		name       string
		req        *remoting.Command
		code       remoting.ResponseCode
		remark     string
		real, opsN int // messages in X/1 and in the op queue after it
	}{
		{"an offset without a message is refused", end(committed, func(h *remoting.EndTransactionRequest) { h.CommitLogOffset++ }),
			remoting.SystemError, "Find prepared transaction message failed", 0, 0},
		{"another group's half message is refused", end(committed, func(h *remoting.EndTransactionRequest) { h.ProducerGroup = "other" }),
			remoting.SystemError, "The producer group wrong", 0, 0},
		{"a wrong queue offset is refused", end(committed, func(h *remoting.EndTransactionRequest) { h.TranStateTableOffset = 7 }),
			remoting.SystemError, "The transaction state table offset wrong", 0, 0},
		{"a verdict that is none of 0, 8, 12 is refused", func() *remoting.Command {
			r := end(committed, nil)
			r.Header, r.Ext = nil, remoting.ExtFields{{Key: "producerGroup", Value: "pg"}, {Key: "tranStateTableOffset", Value: "0"},
				{Key: "commitLogOffset", Value: "0"}, {Key: "commitOrRollback", Value: "5"}, {Key: "msgId", Value: "U1"}}
			return r
		}(), remoting.SystemError, "org.apache.rocketmq.remoting.exception.RemotingCommandException: commitOrRollback field wrong, " +
			"org.apache.rocketmq.common.protocol.header.EndTransactionRequestHeader.checkFields(EndTransactionRequestHeader.java:60)", 0, 0},
		{"a commit stores the message in its queue", end(committed, nil), remoting.Success, "", 1, 1},
		{"a rollback stores only the op", end(rolledBack, func(h *remoting.EndTransactionRequest) {
			h.CommitOrRollback = remoting.TransactionRollbackType
		}), remoting.Success, "", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tb.invoke(tc.req)
			if resp.Code != int32(tc.code) || resp.Remark != tc.remark || len(resp.Ext) != 0 {
				t.Errorf("answered %s %q %v, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, resp.Ext, tc.code, tc.remark)
			}
			if n, o := len(tb.messagesIn("X", 1)), len(tb.messagesIn(message.SystemTopicTransactionOpHalf, 0)); n != tc.real || o != tc.opsN {
				t.Errorf("%d messages in X/1 and %d ops, want %d and %d", n, o, tc.real, tc.opsN)
			}
		})
	}
}

func TestHalfMessagesCheckedTooOftenAreDiscarded(t *testing.T) {
	tb, fake := clockedBrokerAt(t, time.Now(), func(c *Config) { c.TransactionCheckMax = 2; c.TransactionCheckInterval = time.Hour })
	tb.createTopic("X", 1)
	producer := newTxProducer(t, tb, "pg")
	tb.send("X", 0, "half", props("TRAN_MSG", "true", "PGROUP", "pg", "UNIQ_KEY", "U1"))
	for i := 1; i <= 2; i++ {
		checkRound(tb, fake, 7*time.Second)
		if got := producer.nextCheck(t); got == nil {
			t.Fatalf("check %d missing", i)
		}
	}
	checkRound(tb, fake, 7*time.Second)
	producer.noCheck(t)
	discarded := tb.messagesIn(message.SystemTopicTransactionCheckMax, 0)
	if len(discarded) != 1 || discarded[0].Properties.Get("TRANSACTION_CHECK_TIMES") != "2" || string(discarded[0].Body) != "half" {
		t.Fatalf("discarded %+v", discarded)
	}
	if tc := tb.b.topics.get(message.SystemTopicTransactionCheckMax); tc == nil || tc.Perm != permRW {
		t.Errorf("%s config %+v", message.SystemTopicTransactionCheckMax, tc)
	}
}

func TestTransactionStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	tb, fake := clockedBrokerAt(t, time.Now(), func(c *Config) { c.DataDir = dir; c.TransactionCheckInterval = time.Hour })
	tb.createTopic("X", 1)
	decided := tb.send("X", 0, "decided", props("TRAN_MSG", "true", "PGROUP", "pg", "UNIQ_KEY", "U1"))
	tb.send("X", 0, "open", props("TRAN_MSG", "true", "PGROUP", "pg", "UNIQ_KEY", "U2"))
	_, off, _ := message.ParseOffsetMsgID(decided.MsgID)
	if resp := tb.invoke(request(remoting.EndTransaction, &remoting.EndTransactionRequest{ProducerGroup: "pg",
		TranStateTableOffset: decided.QueueOffset, CommitLogOffset: off, CommitOrRollback: remoting.TransactionRollbackType,
		MsgID: "U1"})); resp.Code != 0 {
		t.Fatalf("rollback: %d %s", resp.Code, resp.Remark)
	}
	st := tb.store
	if err := tb.b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	tb = restartClocked(t, st, fake, func(c *Config) { c.DataDir = dir; c.TransactionCheckInterval = time.Hour })
	producer := newTxProducer(t, tb, "pg")
	checkRound(tb, fake, 7*time.Second)
	if h := producer.nextCheck(t); h.Ext.Get("msgId") != "U2" {
		t.Errorf("checked %v, want only the undecided U2", h.Ext)
	}
	producer.noCheck(t)
	st = tb.store
	if err := tb.b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The check's progress is kept too: after another restart nothing is checked twice
	// within the immunity of the copy.
	tb = restartClocked(t, st, fake, func(c *Config) { c.DataDir = dir; c.TransactionCheckInterval = time.Hour })
	if h := tb.b.offsets.query(message.SystemTransactionCheckGroup, message.SystemTopicTransactionHalf, 0); h != 2 {
		t.Errorf("the half queue's check offset is %d after the restart, want 2", h)
	}
}
