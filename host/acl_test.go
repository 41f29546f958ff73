package host

import (
	"strings"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/remoting"
)

const aclConfig = `{"accessKey": "RocketMQ", "secretKey": "12345678"}`

// unsigned rebuilds a request the Java client signed, as it was before its RPC hook ran:
// the recorded frame without AccessKey, SecurityToken and Signature.
func unsigned(t *testing.T, f *recorded.Frame) *remoting.Command {
	t.Helper()
	c, err := remoting.DecodeFrame(f.Bytes, 0)
	if err != nil {
		t.Fatalf("%s: %v", f.File, err)
	}
	for _, k := range []string{aclsign.AccessKey, aclsign.SecurityToken, aclsign.Signature} {
		c.Ext.Delete(k)
	}
	return c
}

func clone(c *remoting.Command) *remoting.Command {
	d := *c
	d.Ext = append(remoting.ExtFields(nil), c.Ext...)
	return &d
}

// TestACLPluginSignsAsJavaAndTheNativeHook re-signs every request the Java client signed
// against an ACL-enabled broker, with the plugin and with the native hook, and requires
// the recorded signature from both.
func TestACLPluginSignsAsJavaAndTheNativeHook(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindRPC, Policy: Fail, Config: []byte(aclConfig)}, "plugins/acl")
	plugin, err := NewRPCHook(p)
	if err != nil {
		t.Fatal(err)
	}
	native := instance.NewACLHook("RocketMQ", "12345678", "")
	signed := 0
	frames := recorded.MustLoad(t)
	for i := range frames {
		f := &frames[i]
		want, ok := f.ExtFields[aclsign.Signature]
		if !ok || !f.FromClient() {
			continue
		}
		req := unsigned(t, f)
		byPlugin, byNative := clone(req), clone(req)
		if err := plugin.BeforeRequest("127.0.0.1:10911", byPlugin); err != nil {
			t.Fatalf("%s: %v", f.File, err)
		}
		if err := native.BeforeRequest("127.0.0.1:10911", byNative); err != nil {
			t.Fatal(err)
		}
		if got := byPlugin.Ext.Get(aclsign.Signature); got != want || byNative.Ext.Get(aclsign.Signature) != want {
			t.Errorf("%s: plugin signed %s, native %s, Java %s", f.File, got, byNative.Ext.Get(aclsign.Signature), want)
		}
		if byPlugin.Ext.Get(aclsign.AccessKey) != "RocketMQ" {
			t.Errorf("%s: AccessKey %q", f.File, byPlugin.Ext.Get(aclsign.AccessKey))
		}
		signed++
	}
	if signed < 5 {
		t.Fatalf("only %d signed requests recorded", signed)
	}
	t.Logf("%d recorded signatures reproduced by the plugin", signed)
}

func TestACLPluginSignsFrame438(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindRPC, Policy: Fail, Config: []byte(aclConfig)}, "plugins/acl")
	h, _ := NewRPCHook(p)
	req := unsigned(t, recorded.Find(t, recorded.MustLoad(t), "438-acl-json-req310.bin"))
	if err := h.BeforeRequest("127.0.0.1:10911", req); err != nil {
		t.Fatal(err)
	}
	if got, want := req.Ext.Get(aclsign.Signature), "mRGptRze+VBxgyHOOHJKsM8TVwo="; got != want {
		t.Fatalf("Signature %s, want %s", got, want)
	}
}

func TestACLPluginWithASecurityToken(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindRPC, Policy: Fail,
		Config: []byte(`{"accessKey": "ak", "secretKey": "sk", "securityToken": "tok"}`)}, "plugins/acl")
	h, _ := NewRPCHook(p)
	req := &remoting.Command{Code: 105, Ext: remoting.ExtFields{{Key: "topic", Value: "T"}}, Body: []byte("b")}
	want := clone(req)
	if err := h.BeforeRequest("a", req); err != nil {
		t.Fatal(err)
	}
	if err := instance.NewACLHook("ak", "sk", "tok").BeforeRequest("a", want); err != nil {
		t.Fatal(err)
	}
	if req.Ext.Get(aclsign.SecurityToken) != "tok" || req.Ext.Get(aclsign.Signature) != want.Ext.Get(aclsign.Signature) {
		t.Fatalf("plugin %v, native %v", req.Ext, want.Ext)
	}
}

// The plugin signs what the typed header carries too: a request built the way the
// producer builds it, with no extFields of its own.
func TestACLPluginSignsTypedHeaders(t *testing.T) {
	r, _ := newRuntime(t)
	p := load(t, r, PluginConfig{Kind: KindRPC, Policy: Fail, Config: []byte(aclConfig)}, "plugins/acl")
	h, _ := NewRPCHook(p)
	req := remoting.NewRequest(remoting.RequestCode(105), &remoting.RouteInfoRequest{Topic: "topicB"})
	want := clone(req)
	if err := h.BeforeRequest("a", req); err != nil {
		t.Fatal(err)
	}
	if err := instance.NewACLHook("RocketMQ", "12345678", "").BeforeRequest("a", want); err != nil {
		t.Fatal(err)
	}
	if got := req.Ext.Get(aclsign.Signature); got == "" || got != want.Ext.Get(aclsign.Signature) || strings.Contains(req.Ext.String(), "topicB") {
		t.Fatalf("plugin %v, native %v", req.Ext, want.Ext)
	}
}
