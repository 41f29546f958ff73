package instance

import (
	"maps"
	"net/netip"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// processorFixture is an instance connected to a fake broker that pushes requests to it.
type processorFixture struct {
	inst   *Instance
	broker *remotingtest.Server
	conn   *netpoll.Conn // the broker's side of the instance's connection
	p      *fakeProducer
	c1, c2 *fakeConsumer
}

func newProcessorFixture(t *testing.T) *processorFixture {
	broker := remotingtest.NewBroker(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	f := &processorFixture{inst: i, broker: broker, p: newFakeProducer("pg"), c1: newFakeConsumer("cg1", "T"), c2: newFakeConsumer("cg2", "T")}
	for _, err := range []error{i.RegisterProducer(f.p), i.RegisterConsumer(f.c1), i.RegisterConsumer(f.c2)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := i.Heartbeat(bg(t), broker.Addr(), i.heartbeatData()); err != nil {
		t.Fatal(err)
	}
	f.conn = broker.Conn()
	return f
}

// push sends a broker-initiated request, two-way or oneway, and returns the answer.
func (f *processorFixture) push(t *testing.T, code remoting.RequestCode, h remoting.HeaderEncoder, body []byte, oneway bool) *remoting.Command {
	t.Helper()
	req := &remoting.Command{Code: int32(code), Language: remoting.LanguageJava, Version: 401, Header: h, Body: body}
	if oneway {
		if err := f.conn.InvokeOneway(bg(t), req); err != nil {
			t.Fatal(err)
		}
		return nil
	}
	resp, err := f.conn.Invoke(bg(t), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func storedMessage(t *testing.T, group string) []byte {
	m := message.Ext{Message: message.Message{Topic: "T", Body: []byte("half")}, CommitLogOffset: 77,
		StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"), BornHost: netip.MustParseAddrPort("127.0.0.1:5000")}
	m.Properties.Set(message.PropertyUniqKey, "UNIQ1")
	if group != "" {
		m.Properties.Set(message.PropertyProducerGroup, group)
	}
	b, err := message.AppendStored(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckTransactionStateGoesToTheProducerOfThePGROUP(t *testing.T) {
	f := newProcessorFixture(t)
	h := &remoting.CheckTransactionStateRequest{TranStateTableOffset: 5, CommitLogOffset: 77, MsgID: "UNIQ1", TransactionID: "UNIQ1"}
	f.push(t, remoting.CheckTransactionState, h, storedMessage(t, "other"), true) // not ours: ignored
	f.push(t, remoting.CheckTransactionState, h, storedMessage(t, "pg"), true)
	got := <-f.p.checks
	if got.addr != f.broker.Addr() || got.msg.UniqKey() != "UNIQ1" || got.msg.CommitLogOffset != 77 || string(got.msg.Body) != "half" ||
		got.h.TranStateTableOffset != 5 || got.h.TransactionID != "UNIQ1" {
		t.Errorf("producer got %+v %+v from %s", got.msg, got.h, got.addr)
	}
	select {
	case extra := <-f.p.checks:
		t.Errorf("a check for another group reached the producer: %+v", extra)
	default:
	}
	if resp := f.push(t, remoting.CheckTransactionState, h, storedMessage(t, "pg"), false); resp.ResponseCode() != remoting.Success {
		t.Errorf("a two-way check was answered %v", resp)
	}
	<-f.p.checks
	if resp := f.push(t, remoting.CheckTransactionState, h, []byte("garbage"), false); resp.ResponseCode() != remoting.SystemError {
		t.Errorf("a check with a bad body was answered %v", resp)
	}
}

func TestNotifyConsumerIDsChangedRebalancesTheGroupNamed(t *testing.T) {
	f := newProcessorFixture(t)
	f.push(t, remoting.NotifyConsumerIDsChanged, &remoting.NotifyConsumerIDsChangedRequest{ConsumerGroup: "cg2"}, nil, true)
	f.push(t, remoting.NotifyConsumerIDsChanged, &remoting.NotifyConsumerIDsChangedRequest{ConsumerGroup: "unknown"}, nil, true)
	waitFor(t, "cg2's rebalance", func() bool { return f.c2.rebalances.Load() == 1 })
	if resp := f.push(t, remoting.NotifyConsumerIDsChanged, &remoting.NotifyConsumerIDsChangedRequest{ConsumerGroup: "cg2"}, nil, false); resp.ResponseCode() != remoting.Success {
		t.Errorf("two-way notification answered %v", resp)
	}
	if f.c1.rebalances.Load() != 0 || f.c2.rebalances.Load() != 2 {
		t.Errorf("rebalances: cg1 %d, cg2 %d", f.c1.rebalances.Load(), f.c2.rebalances.Load())
	}
}

func TestResetConsumerClientOffsetHandsTheOffsetsToTheGroup(t *testing.T) {
	f := newProcessorFixture(t)
	offsets := remoting.QueueTable[int64]{mq("T", "b", 0): 10, mq("T", "b", 1): 20}
	h := &remoting.ResetOffsetRequest{Topic: "T", Group: "cg1", Timestamp: 1700000000000, IsForce: true}
	f.push(t, remoting.ResetConsumerClientOffset, h, (&remoting.ResetOffsetBody{OffsetTable: offsets}).Encode(), true)
	got := <-f.c1.resets
	if got.topic != "T" || !maps.Equal(got.offsets, map[MessageQueue]int64(offsets)) {
		t.Errorf("cg1 got %+v", got)
	}
	f.push(t, remoting.ResetConsumerClientOffset, &remoting.ResetOffsetRequest{Topic: "T", Group: "cg2", Timestamp: 1}, nil, true)
	if got := <-f.c2.resets; len(got.offsets) != 0 {
		t.Errorf("a reset without body gave %v", got.offsets)
	}
}

func TestGetConsumerStatusFromClientAnswersTheOffsets(t *testing.T) {
	f := newProcessorFixture(t)
	f.c1.set(func(c *fakeConsumer) { c.offsets = map[MessageQueue]int64{mq("T", "b", 0): 3, mq("U", "b", 0): 9} })
	resp := f.push(t, remoting.GetConsumerStatusFromClient, &remoting.ConsumerStatusRequest{Topic: "T", Group: "cg1"}, nil, false)
	var body remoting.ConsumerStatusBody
	if resp.ResponseCode() != remoting.Success || body.Decode(resp.Body) != nil {
		t.Fatalf("answered %v %q", resp, resp.Body)
	}
	if !maps.Equal(map[MessageQueue]int64(body.MessageQueueTable), map[MessageQueue]int64{mq("T", "b", 0): 3}) {
		t.Errorf("offsets %v", body.MessageQueueTable)
	}
	resp = f.push(t, remoting.GetConsumerStatusFromClient, &remoting.ConsumerStatusRequest{Topic: "T", Group: "unknown"}, nil, false)
	if resp.ResponseCode() != remoting.Success || body.Decode(resp.Body) != nil || len(body.MessageQueueTable) != 0 {
		t.Errorf("unknown group answered %v %q", resp, resp.Body)
	}
}

func TestGetConsumerRunningInfo(t *testing.T) {
	f := newProcessorFixture(t)
	f.c1.set(func(c *fakeConsumer) {
		c.running = &remoting.ConsumerRunningInfo{Properties: map[string]string{"consumeThreadMin": "20"}, Subscriptions: c.data.Subscriptions}
	})
	tests := []struct {
		name   string
		h      remoting.ConsumerRunningInfoRequest
		code   remoting.ResponseCode
		remark string
		jstack bool
	}{
		{"a group here answers its info with the instance's properties",
			remoting.ConsumerRunningInfoRequest{ConsumerGroup: "cg1", ClientID: "x"}, remoting.Success, "", false},
		{"jstack asks for a goroutine dump",
			remoting.ConsumerRunningInfoRequest{ConsumerGroup: "cg1", ClientID: "x", JstackEnable: true}, remoting.Success, "", true},
		{"a group not here is Java's SYSTEM_ERROR",
			remoting.ConsumerRunningInfoRequest{ConsumerGroup: "nope", ClientID: "x"}, remoting.SystemError,
			"The Consumer Group <nope> not exist in this consumer", false},
		{"a consumer without info is refused the same way",
			remoting.ConsumerRunningInfoRequest{ConsumerGroup: "cg2", ClientID: "x"}, remoting.SystemError,
			"The Consumer Group <cg2> not exist in this consumer", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.push(t, remoting.GetConsumerRunningInfo, &tt.h, nil, false)
			if resp.ResponseCode() != tt.code || resp.Remark != tt.remark {
				t.Fatalf("answered %v", resp)
			}
			if tt.code != remoting.Success {
				return
			}
			var info remoting.ConsumerRunningInfo
			if err := info.Decode(resp.Body); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"consumeThreadMin": "20", remoting.PropNameServerAddr: "127.0.0.1:1;",
				remoting.PropConsumeType: "CONSUME_PASSIVELY", remoting.PropClientVersion: "V4_9_4"}
			if !maps.Equal(info.Properties, want) {
				t.Errorf("properties %v\nwant %v", info.Properties, want)
			}
			if tt.jstack != strings.Contains(info.Jstack, "goroutine ") {
				t.Errorf("jstack %.80q", info.Jstack)
			}
			if len(info.Subscriptions) != 1 || info.Subscriptions[0].Topic != "T" {
				t.Errorf("subscriptions %+v", info.Subscriptions)
			}
		})
	}
}

func TestConsumeMessageDirectly(t *testing.T) {
	f := newProcessorFixture(t)
	want := remoting.ConsumeMessageDirectlyResult{AutoCommit: true, ConsumeResult: remoting.CRSuccess, SpentTimeMills: 3}
	f.c1.set(func(c *fakeConsumer) { c.direct = &want })
	h := &remoting.ConsumeMessageDirectlyRequest{ConsumerGroup: "cg1", ClientID: "x", MsgID: "ID", BrokerName: "b"}
	resp := f.push(t, remoting.ConsumeMessageDirectly, h, storedMessage(t, ""), false)
	var r remoting.ConsumeMessageDirectlyResult
	if resp.ResponseCode() != remoting.Success || r.Decode(resp.Body) != nil || r != want {
		t.Errorf("answered %v %q", resp, resp.Body)
	}
	if msg := <-f.c1.directs; string(msg.Body) != "half" {
		t.Errorf("consumer got %+v", msg)
	}
	h.ConsumerGroup = "cg2" // consumes, but reports nothing
	resp = f.push(t, remoting.ConsumeMessageDirectly, h, storedMessage(t, ""), false)
	if resp.ResponseCode() != remoting.SystemError || resp.Remark != "The Consumer Group <cg2> not exist in this consumer" {
		t.Errorf("a consumer without result answered %v", resp)
	}
	<-f.c2.directs
}

func TestMalformedBrokerRequestsAreRefused(t *testing.T) {
	f := newProcessorFixture(t)
	for _, code := range []remoting.RequestCode{remoting.GetConsumerRunningInfo, remoting.GetConsumerStatusFromClient,
		remoting.ConsumeMessageDirectly, remoting.ResetConsumerClientOffset, remoting.NotifyConsumerIDsChanged,
		remoting.CheckTransactionState} {
		resp := f.push(t, code, nil, nil, false)
		if resp.ResponseCode() != remoting.SystemError || !strings.Contains(resp.Remark, "header") {
			t.Errorf("%s without header answered %v", code, resp)
		}
	}
	if resp := f.push(t, remoting.PushReplyMessageToClient, nil, nil, false); resp.ResponseCode() != remoting.RequestCodeNotSupported {
		t.Errorf("an unhandled code answered %v", resp)
	}
}
