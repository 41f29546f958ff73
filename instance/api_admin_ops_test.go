package instance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestAdminOpsAgainstTheDevCluster(t *testing.T) {
	c := startDevCluster(t, devcluster.Config{})
	adminOpsScenario(t, c.NameServerAddr())
}

// The same scenario against a real Apache RocketMQ: ROCKETMQ_NAMESRV=127.0.0.1:9876.
func TestAdminOpsAgainstARealBroker(t *testing.T) {
	namesrv := os.Getenv("ROCKETMQ_NAMESRV")
	if namesrv == "" {
		t.Skip("ROCKETMQ_NAMESRV not set: no RocketMQ to test against")
	}
	adminOpsScenario(t, namesrv)
}

// adminOpsScenario: a topic created on the cluster's masters and widened, listed, messages
// sent, a group's progress read, its offsets reset through the broker to its live
// consumer, and, once it is gone, directly.
func adminOpsScenario(t *testing.T, namesrv string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, group := "mqgate_admin_"+suffix, "mqgate_admin_cg_"+suffix
	i := startInstance(t, Config{NameServers: []string{namesrv}, InstanceName: "admin-" + suffix, Logger: discard})

	// Create on the only cluster, then widen: the route follows.
	ups, err := i.CreateOrUpdateTopic(ctx, "", TopicConfig{Topic: topic, ReadQueueNums: 2, WriteQueueNums: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) == 0 || ups[0].Addr == "" || ups[0].Err != nil {
		t.Fatalf("updates %+v", ups)
	}
	queuesOf := func() int32 {
		r, err := i.GetRouteInfo(ctx, topic)
		if err != nil || len(r.Queues) == 0 {
			return 0
		}
		return r.Queues[0].WriteQueueNums
	}
	waitFor(t, "the topic's route", func() bool { return queuesOf() == 2 })
	info, err := i.GetClusterInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cluster string
	for name := range info.Clusters {
		cluster = name
	}
	if _, err := i.CreateOrUpdateTopic(ctx, cluster, TopicConfig{Topic: topic, ReadQueueNums: 3, WriteQueueNums: 3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the widened route", func() bool { return queuesOf() == 3 })

	// Listed in its cluster and among all topics; an unknown cluster is refused.
	for name, list := range map[string]func() ([]string, error){
		"cluster": func() ([]string, error) { return i.TopicsOfCluster(ctx, cluster) },
		"all":     func() ([]string, error) { return i.AllTopics(ctx) },
	} {
		topics, err := list()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Contains(topics, topic) || !slices.IsSorted(topics) {
			t.Errorf("%s topics lack %s or are not sorted: %v", name, topic, topics)
		}
	}
	if _, err := i.TopicsOfCluster(ctx, "no-such-cluster"); !errors.Is(err, ErrClusterNotFound) {
		t.Errorf("unknown cluster: %v, want ErrClusterNotFound", err)
	}
	if _, err := i.CreateOrUpdateTopic(ctx, "no-such-cluster", TopicConfig{Topic: topic}); !errors.Is(err, ErrClusterNotFound) {
		t.Errorf("create on an unknown cluster: %v, want ErrClusterNotFound", err)
	}

	// Three messages on queue 0, one on queue 1, none on queue 2; sentAt falls after the
	// first two of queue 0.
	if _, err := i.UpdateTopicRoute(ctx, topic); err != nil {
		t.Fatal(err)
	}
	brokerName := i.TopicRoute(topic).Brokers[0].BrokerName
	addr := i.FindBrokerAddrInPublish(brokerName)
	var sentAt int64
	for k, q := range []int32{0, 0, 1, 0} {
		if k == 2 {
			// A broker answers the message stored nearest the timestamp (Java's
			// getOffsetInQueueByTime): sentAt is far from the first two, near the third.
			time.Sleep(50 * time.Millisecond) // store times apart, not a wait for an event
			sentAt = time.Now().UnixMilli()
			time.Sleep(time.Millisecond)
		}
		h := &remoting.SendRequest{ProducerGroup: "mqgate_admin_pg", Topic: topic, DefaultTopic: message.AutoCreateTopicKey,
			DefaultTopicQueueNums: 4, QueueID: q, BornTimestamp: time.Now().UnixMilli()}
		if _, err := i.SendMessage(ctx, addr, brokerName, h, []byte("m"+strconv.Itoa(k)), ""); err != nil {
			t.Fatal(err)
		}
	}

	// A live consumer of the group, which has consumed one message of queue 0.
	cons := newFakeConsumer(group, topic)
	if err := i.RegisterConsumer(cons); err != nil {
		t.Fatal(err)
	}
	if err := i.SendHeartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	for q, off := range []int64{1, 0, 0} {
		h := &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: int32(q), CommitOffset: off}
		if err := i.UpdateConsumerOffset(ctx, addr, h); err != nil {
			t.Fatal(err)
		}
	}
	var stats *remoting.ConsumeStats
	waitFor(t, "the group's progress", func() bool {
		stats, err = i.ConsumeStats(ctx, group, "")
		return err == nil
	})
	mq := func(q int32) MessageQueue { return MessageQueue{Topic: topic, BrokerName: brokerName, QueueID: q} }
	want := map[int32]remoting.OffsetWrapper{0: {BrokerOffset: 3, ConsumerOffset: 1}, 1: {BrokerOffset: 1}, 2: {}}
	for q, w := range want {
		got := stats.OffsetTable[mq(q)]
		if got.BrokerOffset != w.BrokerOffset || got.ConsumerOffset != w.ConsumerOffset {
			t.Errorf("queue %d: %+v, want offsets %+v", q, got, w)
		}
	}
	if stats.OffsetTable[mq(0)].LastTimestamp == 0 {
		t.Errorf("queue 0 consumed a message but has no last timestamp: %+v", stats.OffsetTable[mq(0)])
	}
	if got := stats.TotalLag(); got != 3 {
		t.Errorf("total lag %d, want 3", got)
	}
	if _, err := i.ConsumeStats(ctx, "mqgate_admin_nobody_"+suffix, ""); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("progress of an unknown group: %v, want ErrGroupNotFound", err)
	}

	// Reset to the message sent at sentAt, forced: the broker pushes the offsets to the
	// live consumer and answers them.
	res, err := i.ResetOffsetByTimestamp(ctx, group, topic, sentAt, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Direct || res.Offsets[mq(0)] != 2 || res.Offsets[mq(1)] != 0 || res.Offsets[mq(2)] != 0 {
		t.Errorf("reset through the broker: %+v, want offsets 2, 0, 0 not direct", res)
	}
	select {
	case r := <-cons.resets:
		if r.topic != topic || r.offsets[mq(0)] != 2 {
			t.Errorf("the consumer was told %+v", r)
		}
	case <-ctx.Done():
		t.Fatal("the consumer was not told of the reset")
	}

	// Without the consumer, the offsets are stored directly; not forced, a queue whose
	// offset at the timestamp is ahead of the group's keeps the group's.
	if err := i.UnregisterConsumer(ctx, group); err != nil {
		t.Fatal(err)
	}
	res, err = i.ResetOffsetByTimestamp(ctx, group, topic, ResetLatest, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Direct || res.Offsets[mq(0)] != 1 || res.Offsets[mq(1)] != 0 {
		t.Errorf("unforced direct reset to the end: %+v, want the group's offsets 1, 0 kept", res)
	}
	res, err = i.ResetOffsetByTimestamp(ctx, group, topic, ResetLatest, true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Direct || res.Offsets[mq(0)] != 3 || res.Offsets[mq(1)] != 1 || res.Offsets[mq(2)] != 0 {
		t.Errorf("forced direct reset to the end: %+v, want 3, 1, 0", res)
	}
	stats, err = i.ConsumeStats(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if stats.TotalLag() != 0 {
		t.Errorf("lag after a reset to the end: %d", stats.TotalLag())
	}
	if _, err := i.ResetOffsetByTimestamp(ctx, group, "mqgate_admin_none_"+suffix, 0, true); !errors.Is(err, ErrTopicNotExist) {
		t.Errorf("reset on an unknown topic: %v, want ErrTopicNotExist", err)
	}
}

func TestTopicConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		in   TopicConfig
		want TopicConfig
		err  string
	}{
		{"defaults are mqadmin's", TopicConfig{Topic: "T"},
			TopicConfig{Topic: "T", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 6, TopicFilterType: "SINGLE_TAG"}, ""},
		{"explicit values are kept", TopicConfig{Topic: "T", ReadQueueNums: 2, WriteQueueNums: 4, Perm: 4, TopicFilterType: "MULTI_TAG", Order: true},
			TopicConfig{Topic: "T", ReadQueueNums: 2, WriteQueueNums: 4, Perm: 4, TopicFilterType: "MULTI_TAG", Order: true}, ""},
		{"a bad topic name", TopicConfig{Topic: "a b"}, TopicConfig{}, "topic"},
		{"too many queues", TopicConfig{Topic: "T", WriteQueueNums: 5000}, TopicConfig{}, "write queues: 5000"},
		{"negative queues", TopicConfig{Topic: "T", ReadQueueNums: -1}, TopicConfig{}, "read queues: -1"},
		{"a perm with unknown bits", TopicConfig{Topic: "T", Perm: 8}, TopicConfig{}, "perm: 8"},
		{"an unknown filter type", TopicConfig{Topic: "T", TopicFilterType: "SQL"}, TopicConfig{}, "SQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			err := c.Validate()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want {
				t.Errorf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

// Failures of single brokers are reported per broker, and a broker saying it has no
// offsets of the group is ErrGroupNotFound.
func TestAdminOpsBrokerErrors(t *testing.T) {
	ns := remotingtest.NewNameServer(t)
	b := remotingtest.NewBroker(t)
	b.Answer(remoting.UpdateAndCreateTopic, remoting.NoPermission, "no permission to create")
	b.Answer(remoting.InvokeBrokerToResetOffset, remoting.SystemError, "THe consumer group <g> not exist")
	ns.Handle(remoting.GetBrokerClusterInfo, func(req *remoting.Command) *remoting.Command {
		info := remoting.ClusterInfo{Brokers: map[string]remoting.BrokerData{"b": {BrokerName: "b", Cluster: "c", Addrs: map[int64]string{0: b.Addr()}}},
			Clusters: map[string][]string{"c": {"b"}}}
		return &remoting.Command{Flag: remoting.FlagResponse, Opaque: req.Opaque, Body: info.Encode()}
	})
	ns.SetRoute("T", remotingtest.Route(2, [2]string{"b", b.Addr()}))
	i := startInstance(t, testConfig(clock.NewFake(epoch), ns.Addr()))

	ups, err := i.CreateOrUpdateTopic(bg(t), "c", TopicConfig{Topic: "T"})
	if !errors.Is(err, ErrNoPermission) || len(ups) != 1 || !errors.Is(ups[0].Err, ErrNoPermission) {
		t.Errorf("create refused: %v, %+v; want ErrNoPermission for broker b", err, ups)
	}
	if _, err := i.ResetOffsetByTimestamp(bg(t), "g", "T", 0, true); !errors.Is(err, ErrGroupNotFound) {
		t.Errorf("reset of a group without offsets: %v, want ErrGroupNotFound", err)
	}
	var be *BrokerError
	if _, err := i.ResetOffsetByTimestamp(bg(t), "g", "T", 0, true); !errors.As(err, &be) || be.Code != remoting.SystemError {
		t.Errorf("the broker's error is not kept: %v", err)
	}
}

// aclAccounts is a plain_acl.yml with a non-admin account and an admin one, as the
// distribution's (the real ACL broker's) accounts RocketMQ and rocketmq2.
const aclAccounts = `accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicB=PUB|SUB
  - accessKey: rocketmq2
    secretKey: 12345678
    admin: true
`

// Under ACL, creating a topic needs an admin account: the broker's refusal comes back as
// it is. Against the real ACL broker with ROCKETMQ_ACL_NAMESRV=127.0.0.1:9878, else the dev
// cluster's ACL.
func TestCreateTopicNeedsAdminUnderACL(t *testing.T) {
	namesrv := os.Getenv("ROCKETMQ_ACL_NAMESRV")
	if namesrv == "" {
		path := filepath.Join(t.TempDir(), "plain_acl.yml")
		if err := os.WriteFile(path, []byte(aclAccounts), 0o600); err != nil {
			t.Fatal(err)
		}
		namesrv = startDevCluster(t, devcluster.Config{ACL: path}).NameServerAddr()
	}
	create := func(account string) error {
		i := startInstance(t, Config{NameServers: []string{namesrv}, InstanceName: "acl-" + account, Logger: discard,
			RPCHooks: []RPCHook{NewACLHook(account, "12345678", "")}})
		_, err := i.CreateOrUpdateTopic(bg(t), "", TopicConfig{Topic: "mqgate_acl_admin", ReadQueueNums: 1, WriteQueueNums: 1})
		return err
	}
	var be *BrokerError
	if err := create("RocketMQ"); !errors.As(err, &be) || be.Code != remoting.SystemError || !strings.Contains(be.Remark, "Need admin permission") {
		t.Errorf("a non-admin account: %v, want SYSTEM_ERROR Need admin permission", err)
	}
	if err := create("rocketmq2"); err != nil {
		t.Errorf("the admin account: %v", err)
	}
}
