package instance

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/remoting"
)

// The ACL hook signs the send of frame 438 (acl-json scenario: accessKey RocketMQ, secret
// 12345678) exactly as the Java client did: the request rebuilt from the recorded fields as
// the producer builds it, a typed SendRequestV2 header and the body, gets the recorded
// Signature byte for byte.
func TestACLHookSignsTheRecordedSendLikeJava(t *testing.T) {
	frames := recorded.MustLoad(t)
	fr := recorded.Find(t, frames, "438-acl-json-req310.bin")
	cmd, err := remoting.DecodeFrame(fr.Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := cmd.Ext.Get(aclsign.Signature)
	if want != "mRGptRze+VBxgyHOOHJKsM8TVwo=" {
		t.Fatalf("recorded signature %q", want)
	}
	var h remoting.SendRequestV2
	if err := h.DecodeFields(cmd.Ext); err != nil {
		t.Fatal(err)
	}
	for _, ser := range []remoting.SerializeType{remoting.JSON, remoting.RocketMQ} {
		req := &remoting.Command{Code: int32(remoting.SendMessageV2), Header: &h, Body: cmd.Body, Serialize: ser}
		hook := NewACLHook("RocketMQ", "12345678", "")
		if err := hook.BeforeRequest("127.0.0.1:10931", req); err != nil {
			t.Fatal(err)
		}
		if got := req.Ext.Get(aclsign.Signature); got != want {
			t.Errorf("%s: Signature %s, Java sent %s", ser, got, want)
		}
		if got := req.Ext.Get(aclsign.AccessKey); got != "RocketMQ" {
			t.Errorf("AccessKey %q", got)
		}
		// Signing again (a retry) gives the same signature: the old one is left out.
		if err := hook.BeforeRequest("127.0.0.1:10931", req); err != nil || req.Ext.Get(aclsign.Signature) != want {
			t.Errorf("re-signing gave %s, %v", req.Ext.Get(aclsign.Signature), err)
		}
		if len(req.Ext) != 2 {
			t.Errorf("extFields after two signatures: %v", req.Ext)
		}
	}
}

// Every request the Java client signed in the recording is signed the same by the hook,
// the ones without typed header too (route lookups, UNREGISTER_CLIENT).
func TestACLHookMatchesEveryRecordedSignature(t *testing.T) {
	n := 0
	for _, fr := range recorded.MustLoad(t) {
		want, ok := fr.ExtFields[aclsign.Signature]
		if !ok {
			continue
		}
		cmd, err := remoting.DecodeFrame(fr.Bytes, 0)
		if err != nil {
			t.Fatal(err)
		}
		req := &remoting.Command{Code: cmd.Code, Body: cmd.Body}
		for _, f := range cmd.Ext {
			if f.Key != aclsign.Signature && f.Key != aclsign.AccessKey {
				req.Ext.Set(f.Key, f.Value)
			}
		}
		if err := NewACLHook("RocketMQ", "12345678", "").BeforeRequest("", req); err != nil {
			t.Fatal(err)
		}
		if got := req.Ext.Get(aclsign.Signature); got != want {
			t.Errorf("%s: %s, Java sent %s", fr.File, got, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no signed frame in the recordings")
	}
}

func TestACLHookAddsTheSecurityTokenToWhatItSigns(t *testing.T) {
	req := &remoting.Command{Code: int32(remoting.GetRouteInfoByTopic), Header: &remoting.RouteInfoRequest{Topic: "T"}}
	if err := NewACLHook("ak", "sk", "token").BeforeRequest("", req); err != nil {
		t.Fatal(err)
	}
	fields := []aclsign.Field{{Key: "topic", Value: "T"}, {Key: "AccessKey", Value: "ak"}, {Key: "SecurityToken", Value: "token"}}
	if got, want := req.Ext.Get(aclsign.Signature), aclsign.Sign(fields, nil, "sk"); got != want || req.Ext.Get(aclsign.SecurityToken) != "token" {
		t.Errorf("signature %s (want %s), ext %v", got, want, req.Ext)
	}
}

// On the wire, through the instance: the broker sees AccessKey and a Signature that
// verifies over everything it received.
func TestACLHookOnTheWire(t *testing.T) {
	broker := remotingtest.NewServer(t)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	cfg := testConfig(clock.NewFake(epoch), "127.0.0.1:1")
	cfg.RPCHooks = []RPCHook{NewACLHook("RocketMQ", "12345678", "")}
	i := startInstance(t, cfg)
	for range 3 { // pooled requests are signed afresh each time
		if _, err := i.SendMessage(bg(t), broker.Addr(), "b", sendHeader("T"), []byte("signed"), "ID"); err != nil {
			t.Fatal(err)
		}
	}
	for _, req := range broker.Requests(remoting.SendMessageV2) {
		if got, want := req.Ext.Get(aclsign.Signature), aclsign.Sign(req.Ext, req.Body, "12345678"); got == "" || got != want {
			t.Errorf("the broker got Signature %q, its fields sign to %q", got, want)
		}
		if strings.Count(req.Ext.String(), "AccessKey") != 1 {
			t.Errorf("ext %v", req.Ext)
		}
	}
}

// Against the real ACL broker (Apache RocketMQ 4.9.4 with aclEnable=true and the default
// plain_acl.yml): unsigned, a send to topicB is refused "No accessKey"; signed, it passes.
// Run with ROCKETMQ_ACL_NAMESRV=127.0.0.1:9878.
func TestACLAgainstARealBroker(t *testing.T) {
	namesrv := os.Getenv("ROCKETMQ_ACL_NAMESRV")
	if namesrv == "" {
		t.Skip("ROCKETMQ_ACL_NAMESRV not set: no ACL-enabled RocketMQ to test against")
	}
	send := func(t *testing.T, hooks ...RPCHook) (SendResult, error) {
		cfg := Config{NameServers: []string{namesrv}, InstanceName: "acltest", Logger: discard, RPCHooks: hooks}
		i := startInstance(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := i.UpdateTopicRoute(ctx, "topicB"); errors.Is(err, ErrTopicNotExist) {
			_, err = i.UpdateTopicRouteFromDefault(ctx, "topicB", "TBW102", 4)
			if err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		q := i.PublishInfo("topicB").Queues[0]
		addr := i.FindBrokerAddrInPublish(q.BrokerName)
		h := &remoting.SendRequest{ProducerGroup: "mqgate_acl_pg", Topic: "topicB", DefaultTopic: "TBW102",
			DefaultTopicQueueNums: 4, QueueID: q.QueueID, BornTimestamp: time.Now().UnixMilli(),
			Properties: "UNIQ_KEY\x01MQGATEACLTEST\x02WAIT\x01true"}
		return i.SendMessage(ctx, addr, q.BrokerName, h, []byte("hello acl"), "MQGATEACLTEST")
	}
	t.Run("unsigned is refused", func(t *testing.T) {
		_, err := send(t)
		var be *BrokerError
		if !errors.As(err, &be) || be.Code != remoting.SystemError || !strings.Contains(be.Remark, "No accessKey") {
			t.Fatalf("unsigned send = %v, want SYSTEM_ERROR No accessKey", err)
		}
		if !errors.Is(err, ErrSystemError) {
			t.Errorf("not ErrSystemError: %v", err)
		}
		t.Logf("unsigned: %v", err)
	})
	t.Run("signed is accepted", func(t *testing.T) {
		r, err := send(t, NewACLHook("RocketMQ", "12345678", ""))
		if err != nil || r.Status != SendOK {
			t.Fatalf("signed send = %+v, %v", r, err)
		}
		t.Logf("signed: %+v", r)
	})
	t.Run("a wrong secret is refused", func(t *testing.T) {
		_, err := send(t, NewACLHook("RocketMQ", "wrong", ""))
		if err == nil || !strings.Contains(err.Error(), "signature") {
			t.Fatalf("send with a wrong secret = %v", err)
		}
		t.Logf("wrong secret: %v", err)
	})
}
