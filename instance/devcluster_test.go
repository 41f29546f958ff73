package instance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// The embedded dev cluster (a NameServer and a broker faithful to 4.9.4) runs the scenarios
// that need a broker's behaviour but no real RocketMQ, always.

func startDevCluster(t *testing.T, cfg devcluster.Config) *devcluster.Cluster {
	t.Helper()
	cfg.Logger = discard
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func TestAgainstTheDevCluster(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	for _, ser := range []string{"ROCKETMQ", "JSON"} {
		t.Run(ser, func(t *testing.T) { realBrokerScenario(t, c.NameServerAddr(), ser, true) })
	}
}

// routeViaDefault routes topic, through TBW102 while the brokers do not know it.
func routeViaDefault(t *testing.T, i *Instance, topic string) MessageQueue {
	t.Helper()
	if _, err := i.UpdateTopicRoute(bg(t), topic); errors.Is(err, ErrTopicNotExist) {
		if _, err := i.UpdateTopicRouteFromDefault(bg(t), topic, "", 4); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return i.PublishInfo(topic).Queues[0]
}

// A half message left undecided is checked back by the broker: the processor hands
// CHECK_TRANSACTION_STATE to the producer of the message's group, whose verdict commits it.
func TestTransactionCheckReachesTheProducer(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{TransactionTimeout: 50 * time.Millisecond, TransactionCheckInterval: 50 * time.Millisecond})
	i := startInstance(t, testConfig(clock.NewFake(epoch), c.NameServerAddr()))
	p := newFakeProducer("txpg", "TxTopic")
	if err := i.RegisterProducer(p); err != nil {
		t.Fatal(err)
	}
	q := routeViaDefault(t, i, "TxTopic")
	// The broker asks a connection of the group it knows from heartbeats; with the fake
	// clock the first periodic heartbeat went out before any broker was known.
	if err := i.SendHeartbeat(bg(t)); err != nil {
		t.Fatal(err)
	}
	var props message.Properties
	props.Set(message.PropertyTransactionPrepared, "true")
	props.Set(message.PropertyProducerGroup, "txpg")
	props.Set(message.PropertyUniqKey, "TXUNIQ1")
	h := &remoting.SendRequest{ProducerGroup: "txpg", Topic: "TxTopic", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: q.QueueID, SysFlag: message.SysFlagTransactionPrepared, BornTimestamp: time.Now().UnixMilli(), Properties: props.Encode()}
	r, err := i.SendMessage(bg(t), c.BrokerAddr(), q.BrokerName, h, []byte("half"), "TXUNIQ1")
	if err != nil {
		t.Fatal(err)
	}
	// As Java's producer with an UNKNOW local transaction: END_TRANSACTION not decided.
	_, clOffset, _ := message.ParseOffsetMsgID(r.OffsetMsgID)
	end := &remoting.EndTransactionRequest{ProducerGroup: "txpg", TranStateTableOffset: r.QueueOffset, CommitLogOffset: clOffset,
		CommitOrRollback: remoting.TransactionNotType, MsgID: "TXUNIQ1", TransactionID: r.TransactionID}
	if err := i.EndTransactionOneway(bg(t), c.BrokerAddr(), end, "unknown yet"); err != nil {
		t.Fatal(err)
	}

	var check transactionCheck
	select {
	case check = <-p.checks:
	case <-time.After(10 * time.Second):
		t.Fatal("no CHECK_TRANSACTION_STATE reached the producer")
	}
	if check.addr != c.BrokerAddr() || check.msg.UniqKey() != "TXUNIQ1" || check.msg.ProducerGroup() != "txpg" || string(check.msg.Body) != "half" {
		t.Fatalf("producer asked about %+v from %s", check.msg, check.addr)
	}
	end = &remoting.EndTransactionRequest{ProducerGroup: "txpg", TranStateTableOffset: check.h.TranStateTableOffset,
		CommitLogOffset: check.h.CommitLogOffset, CommitOrRollback: remoting.TransactionCommitType, FromTransactionCheck: true,
		MsgID: check.h.MsgID, TransactionID: check.h.TransactionID}
	if err := i.EndTransactionOneway(bg(t), check.addr, end, ""); err != nil {
		t.Fatal(err)
	}
	pull := &remoting.PullRequest{ConsumerGroup: "txcg", Topic: "TxTopic", QueueID: q.QueueID, MaxMsgNums: 8,
		SysFlag: remoting.PullFlagSubscription, Subscription: "*"}
	waitFor(t, "the committed message", func() bool {
		pr, err := i.PullMessage(bg(t), c.BrokerAddr(), pull)
		if err != nil || pr.Status != PullFound {
			return false
		}
		msgs, err := message.DecodeStored(pr.Body)
		return err == nil && len(msgs) == 1 && string(msgs[0].Body) == "half"
	})
}

// When a second client joins a consumer group, the broker tells the first
// (NOTIFY_CONSUMER_IDS_CHANGED), whose consumer of that group rebalances. (A client is told
// of its own joining too: Java's ConsumerManager notifies every channel of the group.)
func TestAJoiningConsumerMakesTheGroupRebalance(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	join := func(name string, groups ...*fakeConsumer) *Instance {
		cfg := testConfig(clock.NewFake(epoch), c.NameServerAddr())
		cfg.InstanceName = name
		i := startInstance(t, cfg)
		for _, g := range groups {
			if err := i.RegisterConsumer(g); err != nil {
				t.Fatal(err)
			}
		}
		routeViaDefault(t, i, "GroupTopic")
		if err := i.SendHeartbeat(bg(t)); err != nil {
			t.Fatal(err)
		}
		return i
	}
	first, other := newFakeConsumer("cg", "GroupTopic"), newFakeConsumer("cg-other", "GroupTopic")
	i1 := join("first", first, other)
	waitFor(t, "the notifications of the first client's own joining", func() bool {
		return first.rebalances.Load() == 1 && other.rebalances.Load() == 1
	})
	join("second", newFakeConsumer("cg", "GroupTopic"))
	waitFor(t, "the first client's rebalance", func() bool { return first.rebalances.Load() == 2 })
	if n := other.rebalances.Load(); n != 1 {
		t.Errorf("a group nobody joined rebalanced %d times", n)
	}
	ids, err := i1.FindConsumerIDList(bg(t), "GroupTopic", "cg")
	if err != nil || len(ids) != 2 {
		t.Errorf("consumers of cg: %v, %v", ids, err)
	}
}

// The NameServer goes away: routes keep serving from the cache and sends keep working;
// it comes back: refreshes work again.
func TestNameServerLossAndBrokerRestart(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	i := startInstance(t, testConfig(clock.NewFake(epoch), c.NameServerAddr()))
	q := routeViaDefault(t, i, "LossTopic")
	h := sendHeader("LossTopic")
	h.QueueID = q.QueueID
	send := func() error {
		_, err := i.SendMessage(bg(t), i.FindBrokerAddrInPublish(q.BrokerName), q.BrokerName, h, []byte("x"), "ID")
		return err
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}

	ctx := bg(t)
	if err := c.StopNameServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRoute(ctx, "LossTopic"); !errors.Is(err, ErrNameServerUnreachable) {
		t.Errorf("refresh without NameServer = %v", err)
	}
	if err := send(); err != nil {
		t.Errorf("send from the cached route without NameServer: %v", err)
	}
	if err := c.StartNameServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := i.UpdateTopicRoute(ctx, "LossTopic"); err != nil {
		t.Errorf("refresh after the NameServer came back: %v", err)
	}

	if err := c.RestartBroker(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a send after the broker restart", func() bool { return send() == nil })

	c.Faults().SystemBusy(remoting.SendMessageV2, true)
	if err := send(); !errors.Is(err, ErrSystemBusy) {
		t.Errorf("send to a busy broker = %v, want ErrSystemBusy", err)
	}
}

// The native ACL hook against the dev cluster's ACL (the distribution's plain_acl.yml).
func TestACLAgainstTheDevCluster(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "plain_acl.yml")
	yml := "globalWhiteRemoteAddresses:\n\naccounts:\n  - accessKey: RocketMQ\n    secretKey: 12345678\n" +
		"    whiteRemoteAddress:\n    admin: false\n    defaultTopicPerm: DENY\n    defaultGroupPerm: SUB\n" +
		"    topicPerms:\n      - topicB=PUB|SUB\n"
	if err := os.WriteFile(acl, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startDevCluster(t, devcluster.Config{ACL: acl})
	send := func(hooks ...RPCHook) error {
		cfg := testConfig(clock.NewFake(epoch), c.NameServerAddr())
		cfg.RPCHooks = hooks
		i := startInstance(t, cfg)
		q := routeViaDefault(t, i, "topicB")
		h := sendHeader("topicB")
		h.QueueID = q.QueueID
		_, err := i.SendMessage(bg(t), c.BrokerAddr(), q.BrokerName, h, []byte("acl"), "ID")
		return err
	}
	if err := send(); !errors.Is(err, ErrSystemError) || !strings.Contains(err.Error(), "No accessKey") {
		t.Errorf("unsigned send = %v", err)
	}
	if err := send(NewACLHook("RocketMQ", "12345678", "")); err != nil {
		t.Errorf("signed send = %v", err)
	}
	if err := send(NewACLHook("RocketMQ", "wrong", "")); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("send with a wrong secret = %v", err)
	}
}
