package interop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	mqproducer "github.com/mqgate/mqgate/instance/producer"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// aclPluginHook loads plugins/acl with an account's keys as an RPC hook, in a sandbox
// closed with the test.
func aclPluginHook(t *testing.T, wasm []byte, accessKey, secretKey string) instance.RPCHook {
	t.Helper()
	r, err := host.NewRuntime(context.Background(), host.Config{CacheDir: "off", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	config := fmt.Sprintf(`{"accessKey": %q, "secretKey": %q}`, accessKey, secretKey)
	p, err := r.Load(context.Background(), host.PluginConfig{Name: "acl", Kind: host.KindRPC, Policy: host.Fail, Config: []byte(config)}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.NewRPCHook(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The ACL signing plugin, run in the WebAssembly sandbox as a client instance's RPC hook,
// is accepted by an ACL-enabled broker where the native hook is, and refused with the
// broker's ACL error where the native hook is: a send to topicB (PUB|SUB for account
// RocketMQ) through an mqgate producer, signed with the right and a wrong secret.
func TestACLPluginAgainstTheBroker(t *testing.T) {
	c := startACLCluster(t)
	wasm := plugintest.Build(t, "plugins/acl")
	hooks := map[string]func(t *testing.T, secret string) instance.RPCHook{
		"native": func(_ *testing.T, secret string) instance.RPCHook { return instance.NewACLHook("RocketMQ", secret, "") },
		"wasm":   func(t *testing.T, secret string) instance.RPCHook { return aclPluginHook(t, wasm, "RocketMQ", secret) },
	}
	for _, tc := range []struct {
		name, secret string
		accepted     bool
	}{
		{"the account's secret is accepted", "12345678", true},
		{"a wrong secret is refused with the broker's ACL error", "87654321", false},
	} {
		for _, impl := range []string{"native", "wasm"} {
			t.Run(impl+"/"+tc.name, func(t *testing.T) {
				res, err := sendSigned(t, c, hooks[impl](t, tc.secret), name(t, "acl_"+impl))
				if tc.accepted {
					if err != nil || res.Status != instance.SendOK {
						t.Fatalf("send = %+v, %v; want SEND_OK", res, err)
					}
					t.Logf("accepted: msgId %s, queue %d offset %d", res.MsgID, res.Queue.QueueID, res.QueueOffset)
					return
				}
				var be *instance.BrokerError
				if !errors.As(err, &be) || be.Code != remoting.SystemError ||
					!strings.Contains(be.Remark, "org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=RocketMQ") {
					t.Fatalf("send = %+v, %v; want SYSTEM_ERROR AclException: Check signature failed", res, err)
				}
				t.Logf("refused: %v", err)
			})
		}
	}
}

// sendSigned sends one message to topicB from a fresh instance whose RPC hook is hook.
func sendSigned(t *testing.T, c *cluster, hook instance.RPCHook, group string) (instance.SendResult, error) {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	inst, err := instance.New(instance.Config{NameServers: []string{c.namesrv}, InstanceName: group, Logger: quiet,
		RPCHooks: []instance.RPCHook{hook}})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(ctxFor(t, 5*time.Second)) })
	p, err := mqproducer.New(inst, mqproducer.Config{Group: group, Logger: quiet, RetriesWhenSyncFailed: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(ctxFor(t, 5*time.Second)) })
	return p.Send(ctxFor(t, 10*time.Second), &message.Message{Topic: "topicB", Body: []byte("signed in the sandbox")})
}
