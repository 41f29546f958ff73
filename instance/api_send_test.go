package instance

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

func sendHeader(topic string) *remoting.SendRequest {
	return &remoting.SendRequest{ProducerGroup: "pg", Topic: topic, DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 1, BornTimestamp: 1700000000000, Properties: "UNIQ_KEY\x01ID1\x02WAIT\x01true"}
}

var sendOK = []remoting.Field{{Key: "msgId", Value: "7F00000100002AA90000000000000000"}, {Key: "queueId", Value: "1"},
	{Key: "queueOffset", Value: "42"}}

func TestSendMessageMapsResponsesAsJava(t *testing.T) {
	type check func(t *testing.T, r SendResult, err error)
	status := func(want SendStatus) check {
		return func(t *testing.T, r SendResult, err error) {
			if err != nil || r.Status != want {
				t.Fatalf("got %v, %v; want status %s", r.Status, err, want)
			}
		}
	}
	fails := func(sentinel error) check {
		return func(t *testing.T, _ SendResult, err error) {
			var be *BrokerError
			if !errors.Is(err, sentinel) || !errors.As(err, &be) || be.Request != remoting.SendMessageV2 {
				t.Fatalf("got %v, want a *BrokerError matching %v", err, sentinel)
			}
		}
	}
	tests := []struct {
		name   string
		code   remoting.ResponseCode
		remark string
		ext    []remoting.Field
		check  check
	}{
		{"SUCCESS is SEND_OK", remoting.Success, "", sendOK, status(SendOK)},
		{"FLUSH_DISK_TIMEOUT is a result, not an error", remoting.FlushDiskTimeout, "", sendOK, status(FlushDiskTimeout)},
		{"FLUSH_SLAVE_TIMEOUT is a result", remoting.FlushSlaveTimeout, "", sendOK, status(FlushSlaveTimeout)},
		{"SLAVE_NOT_AVAILABLE is a result", remoting.SlaveNotAvailable, "", sendOK, status(SlaveNotAvailable)},
		{"TOPIC_NOT_EXIST", remoting.TopicNotExist, "topic[T] not exist", nil, fails(ErrTopicNotExist)},
		{"SYSTEM_BUSY", remoting.SystemBusy, "[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while", nil, fails(ErrSystemBusy)},
		{"SYSTEM_ERROR [PC_SYNCHRONIZED] is busy", remoting.SystemError, "[PC_SYNCHRONIZED]broker busy, start flow control for a while", nil, fails(ErrSystemBusy)},
		{"other SYSTEM_ERROR", remoting.SystemError, "org.apache.rocketmq.acl.common.AclException: No accessKey is configured", nil, fails(ErrSystemError)},
		{"NO_PERMISSION", remoting.NoPermission, "the broker sending message is forbidden", nil, fails(ErrNoPermission)},
		{"SERVICE_NOT_AVAILABLE", remoting.ServiceNotAvailable, "service not available now", nil, fails(ErrServiceNotAvailable)},
		{"MESSAGE_ILLEGAL", remoting.MessageIllegal, "the message is illegal", nil, fails(ErrMessageIllegal)},
		{"SUCCESS without the header fields is a decode error", remoting.Success, "", nil,
			func(t *testing.T, _ SendResult, err error) {
				if !errors.Is(err, remoting.ErrBadHeader) {
					t.Fatalf("got %v, want ErrBadHeader", err)
				}
			}},
	}
	broker := remotingtest.NewServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broker.Answer(remoting.SendMessageV2, tt.code, tt.remark, tt.ext...)
			r, err := i.SendMessage(bg(t), broker.Addr(), "b1", sendHeader("T"), []byte("hi"), "ID1")
			tt.check(t, r, err)
			if err != nil && tt.remark != "" && !strings.Contains(err.Error(), tt.remark) {
				t.Errorf("error %q lacks the remark", err)
			}
		})
	}
	for _, not := range []error{ErrTopicNotExist, ErrSystemBusy, ErrTimeout, ErrOffsetNotFound} {
		if errors.Is(&BrokerError{Code: remoting.NoPermission}, not) {
			t.Errorf("NO_PERMISSION matches %v", not)
		}
	}
}

func TestSendResultFields(t *testing.T) {
	broker := remotingtest.NewServer(t)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	tests := []struct {
		name string
		ext  []remoting.Field
		want SendResult
	}{
		{"region defaults to DefaultRegion and trace is on without TRACE_ON", sendOK,
			SendResult{Status: SendOK, MsgID: "ID1", OffsetMsgID: "7F00000100002AA90000000000000000",
				Queue: mq("T", "b1", 1), QueueOffset: 42, RegionID: "DefaultRegion", TraceOn: true}},
		{"the broker's region, trace off, a transaction id",
			append(append([]remoting.Field(nil), sendOK...), remoting.Field{Key: "MSG_REGION", Value: "eu"},
				remoting.Field{Key: "TRACE_ON", Value: "false"}, remoting.Field{Key: "transactionId", Value: "tx"}),
			SendResult{Status: SendOK, MsgID: "ID1", OffsetMsgID: "7F00000100002AA90000000000000000",
				Queue: mq("T", "b1", 1), QueueOffset: 42, RegionID: "eu", TraceOn: false, TransactionID: "tx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broker.Answer(remoting.SendMessageV2, remoting.Success, "", tt.ext...)
			got, err := i.SendMessage(bg(t), broker.Addr(), "b1", sendHeader("T"), []byte("hi"), "ID1")
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

func TestSendMessageOnTheWire(t *testing.T) {
	broker := remotingtest.NewServer(t)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	broker.Answer(remoting.SendBatchMessage, remoting.Success, "", sendOK...)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))

	h := sendHeader("T")
	if _, err := i.SendMessage(bg(t), broker.Addr(), "b1", h, []byte("body"), "ID1"); err != nil {
		t.Fatal(err)
	}
	req := broker.Last(remoting.SendMessageV2)
	if req.Language != remoting.LanguageGo || req.Version != 401 || req.Serialize != remoting.RocketMQ ||
		string(req.Body) != "body" || req.Ext.Get("a") != "pg" || req.Ext.Get("b") != "T" || req.Ext.Get("e") != "1" ||
		req.Ext.Get("i") != h.Properties {
		t.Errorf("sent %v %q", req, req.Body)
	}

	h.Batch = true
	r, err := i.SendMessage(bg(t), broker.Addr(), "b1", h, []byte("batch"), "ID1,ID2")
	if err != nil || r.MsgID != "ID1,ID2" {
		t.Fatalf("batch: %+v, %v", r, err)
	}
	if req := broker.Last(remoting.SendBatchMessage); req.Ext.Get("m") != "true" {
		t.Errorf("batch sent %v", req)
	}

	h.Batch = false
	done := make(chan SendResult, 1)
	err = i.SendMessageAsync(bg(t), broker.Addr(), "b1", h, []byte("async"), "ID3", func(r SendResult, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Topic = "changed after the call" // the header is free once the call returns
	if r := <-done; r.MsgID != "ID3" || r.Queue.Topic != "T" || r.QueueOffset != 42 {
		t.Errorf("async result %+v", r)
	}

	oneway := make(chan *remoting.Command, 1)
	broker.Handle(remoting.SendMessageV2, func(req *remoting.Command) *remoting.Command {
		if req.IsOneway() {
			oneway <- req
		}
		return nil
	})
	if err := i.SendMessageOneway(bg(t), broker.Addr(), sendHeader("T"), []byte("oneway")); err != nil {
		t.Fatal(err)
	}
	if req := <-oneway; string(req.Body) != "oneway" {
		t.Errorf("oneway sent %v", req)
	}
}

func TestTransportErrorsAreTyped(t *testing.T) {
	silent := remotingtest.NewServer(t)
	silent.Handle(remoting.SendMessageV2, func(*remoting.Command) *remoting.Command { return nil }) // never answers
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := i.SendMessage(ctx, silent.Addr(), "b", sendHeader("T"), []byte("x"), "ID")
	var te *netpoll.TimeoutError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) || !strings.Contains(err.Error(), "SEND_MESSAGE_V2 to "+silent.Addr()) {
		t.Errorf("unanswered send = %v, want ErrTimeout naming the request", err)
	}
	if errors.Is(err, ErrSystemBusy) || errors.Is(err, ErrTopicNotExist) {
		t.Errorf("a timeout matches a broker sentinel: %v", err)
	}

	_, err = i.SendMessage(bg(t), dead, "b", sendHeader("T"), []byte("x"), "ID")
	if !errors.Is(err, ErrConnClosed) {
		t.Errorf("send to a dead broker = %v, want ErrConnClosed", err)
	}
	err = i.SendMessageAsync(bg(t), dead, "b", sendHeader("T"), []byte("x"), "ID", func(SendResult, error) {
		t.Error("callback called though SendMessageAsync failed")
	})
	if !errors.Is(err, ErrConnClosed) {
		t.Errorf("async send to a dead broker = %v, want ErrConnClosed", err)
	}
}

// recordingHook records the calls it sees and fails when told to.
type recordingHook struct {
	name      string
	log       *[]string
	mu        *sync.Mutex
	failStage string
}

func (h recordingHook) BeforeRequest(addr string, req *remoting.Command) error {
	h.mu.Lock()
	*h.log = append(*h.log, h.name+" before "+req.RequestCode().String())
	h.mu.Unlock()
	req.Ext.Set("X-"+h.name, "1")
	if h.failStage == "before" {
		return errors.New(h.name + " says no")
	}
	return nil
}

func (h recordingHook) AfterResponse(addr string, req, resp *remoting.Command) error {
	h.mu.Lock()
	*h.log = append(*h.log, h.name+" after "+resp.ResponseCode().String())
	h.mu.Unlock()
	if h.failStage == "after" {
		return errors.New(h.name + " dislikes it")
	}
	return nil
}

func TestRPCHooksRunInOrderAroundEveryCall(t *testing.T) {
	broker := remotingtest.NewServer(t)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	tests := []struct {
		name      string
		failFirst string
		wantLog   string
		wantSent  int
		wantErr   string
	}{
		{"before in order, after in order", "", "A before SEND_MESSAGE_V2,B before SEND_MESSAGE_V2,A after SUCCESS,B after SUCCESS", 1, ""},
		{"a failing BeforeRequest sends nothing", "before", "A before SEND_MESSAGE_V2", 0, "RPC hook before request SEND_MESSAGE_V2"},
		{"a failing AfterResponse fails the call", "after", "A before SEND_MESSAGE_V2,B before SEND_MESSAGE_V2,A after SUCCESS", 1, "A dislikes it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log []string
			var mu sync.Mutex
			cfg := testConfig(clock.NewFake(epoch), "127.0.0.1:1")
			cfg.RPCHooks = []RPCHook{
				recordingHook{name: "A", log: &log, mu: &mu, failStage: tt.failFirst},
				recordingHook{name: "B", log: &log, mu: &mu},
			}
			i := startInstance(t, cfg)
			before := broker.Count(remoting.SendMessageV2)
			_, err := i.SendMessage(bg(t), broker.Addr(), "b", sendHeader("T"), []byte("x"), "ID")
			var he *HookError
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (!errors.As(err, &he) || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			mu.Lock()
			got := strings.Join(log, ",")
			mu.Unlock()
			if got != tt.wantLog {
				t.Errorf("hooks ran %s\nwant %s", got, tt.wantLog)
			}
			if sent := broker.Count(remoting.SendMessageV2) - before; sent != tt.wantSent {
				t.Errorf("%d requests sent, want %d", sent, tt.wantSent)
			}
			if tt.wantSent == 1 {
				if req := broker.Last(remoting.SendMessageV2); req.Ext.Get("X-A") != "1" || req.Ext.Get("X-B") != "1" {
					t.Errorf("the fields the hooks added are not on the wire: %v", req.Ext)
				}
			}
		})
	}
}

func BenchmarkSendMessage(b *testing.B) {
	broker := remotingtest.NewServer(b)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	i := startInstance(b, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	h := sendHeader("T")
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := i.SendMessage(ctx, broker.Addr(), "b1", h, body, "ID"); err != nil {
			b.Fatal(err)
		}
	}
}
