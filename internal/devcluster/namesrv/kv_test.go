package namesrv

import (
	"testing"

	"github.com/mqgate/mqgate/remoting"
)

func TestKVConfigAsJava(t *testing.T) {
	// KVConfigManager's table through DefaultRequestProcessor, step by step; the answers
	// are the reference 4.9.4 NameServer's to the same requests.
	s := start(t, Config{})
	cl := newClient(t)
	kv := func(code remoting.RequestCode, kvs ...string) *remoting.Command {
		req := &remoting.Command{Code: int32(code)}
		for i := 0; i+1 < len(kvs); i += 2 {
			req.Ext = append(req.Ext, remoting.Field{Key: kvs[i], Value: kvs[i+1]})
		}
		return call(t, cl, s.Addr(), req)
	}
	const ns = "ORDER_TOPIC_CONFIG"
	for i, step := range []struct {
		code   remoting.RequestCode
		kvs    []string
		want   remoting.ResponseCode
		remark string
		value  string // GET_KV_CONFIG's header
		body   string
	}{
		{remoting.GetKVListByNamespace, []string{"namespace", ns}, remoting.QueryNotFound, "No config item, Namespace: " + ns, "", ""},
		{remoting.PutKVConfig, []string{"namespace", ns, "key", "orders", "value", "broker-a:8"}, remoting.Success, "", "", ""},
		{remoting.PutKVConfig, []string{"namespace", ns, "key", "payments", "value", "broker-a:4"}, remoting.Success, "", "", ""},
		{remoting.PutKVConfig, []string{"namespace", ns, "value", "x"}, remoting.SystemError, "namespace or key is null", "", ""},
		{remoting.GetKVConfig, []string{"namespace", ns, "key", "orders"}, remoting.Success, "", "broker-a:8", ""},
		{remoting.GetKVListByNamespace, []string{"namespace", ns}, remoting.Success, "", "",
			`{"table":{"payments":"broker-a:4","orders":"broker-a:8"}}`},
		{remoting.DeleteKVConfig, []string{"namespace", ns, "key", "orders"}, remoting.Success, "", "", ""},
		{remoting.GetKVConfig, []string{"namespace", ns, "key", "orders"}, remoting.QueryNotFound,
			"No config item, Namespace: " + ns + " Key: orders", "", ""},
		{remoting.DeleteKVConfig, []string{"namespace", ns, "key", "payments"}, remoting.Success, "", "", ""},
		{remoting.GetKVListByNamespace, []string{"namespace", ns}, remoting.Success, "", "", `{"table":{}}`},
	} {
		resp := kv(step.code, step.kvs...)
		if remoting.ResponseCode(resp.Code) != step.want || resp.Remark != step.remark || resp.Ext.Get("value") != step.value ||
			string(resp.Body) != step.body {
			t.Errorf("step %d %s %v: %s %q %v %q, want %s %q value %q body %q", i, step.code, step.kvs,
				remoting.ResponseCode(resp.Code), resp.Remark, resp.Ext, resp.Body, step.want, step.remark, step.value, step.body)
		}
	}
	// A broker's registration is answered with the ORDER_TOPIC_CONFIG list, now it exists.
	if resp := call(t, cl, s.Addr(), masterA.register()); resp.Code != 0 || string(resp.Body) != `{"table":{}}` {
		t.Errorf("registration: %d %q", resp.Code, resp.Body)
	}
}
