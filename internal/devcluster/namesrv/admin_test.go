package namesrv

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/remoting"
)

// ask sends a request with the given header fields and body.
func ask(t *testing.T, e env, code remoting.RequestCode, body string, kvs ...string) *remoting.Command {
	t.Helper()
	req := &remoting.Command{Code: int32(code), Version: remoting.Version494}
	if body != "" {
		req.Body = []byte(body)
	}
	for i := 0; i+1 < len(kvs); i += 2 {
		req.Ext = append(req.Ext, remoting.Field{Key: kvs[i], Value: kvs[i+1]})
	}
	resp := call(t, e.cl, e.addr, req)
	if resp.Code != int32(remoting.Success) || resp.Remark != "" {
		t.Fatalf("%s: %s %q", code, remoting.ResponseCode(resp.Code), resp.Remark)
	}
	return resp
}

func newEnv(t *testing.T) env {
	s := start(t, Config{})
	return env{t: t, cl: newClient(t), addr: s.Addr()}
}

func TestWritePermOfBrokerAsJava(t *testing.T) {
	e := newEnv(t)
	call(t, e.cl, e.addr, masterA.register())
	call(t, e.cl, e.addr, masterB.register())
	perms := func(topic string) []int32 {
		var out []int32
		for _, q := range e.route(topic).Queues {
			out = append(out, q.Perm)
		}
		return out
	}
	for _, step := range []struct {
		name       string
		code       remoting.RequestCode
		kvs        []string
		countKey   string
		count      string
		tbw, order []int32 // perms of TBW102 (broker-a) and orders (broker-b, broker-a) after
	}{
		{"wipe a broker's write bit", remoting.WipeWritePermOfBroker, []string{"brokerName", "broker-a"},
			"wipeTopicCount", "2", []int32{5}, []int32{6, 4}},
		{"wiping again counts the topics again", remoting.WipeWritePermOfBroker, []string{"brokerName", "broker-a"},
			"wipeTopicCount", "2", []int32{5}, []int32{6, 4}},
		{"an unknown broker has no topic", remoting.WipeWritePermOfBroker, []string{"brokerName", "nope"},
			"wipeTopicCount", "0", []int32{5}, []int32{6, 4}},
		{"no broker name matches none", remoting.WipeWritePermOfBroker, nil, "wipeTopicCount", "0", []int32{5}, []int32{6, 4}},
		{"add makes every queue data read-write", remoting.AddWritePermOfBroker, []string{"brokerName", "broker-a"},
			"addTopicCount", "2", []int32{6}, []int32{6, 6}},
	} {
		resp := ask(t, e, step.code, "", step.kvs...)
		if got := resp.Ext.Get(step.countKey); got != step.count {
			t.Errorf("%s: %s=%q, want %s (%v)", step.name, step.countKey, got, step.count, resp.Ext)
		}
		if got := perms("TBW102"); !slices.Equal(got, step.tbw) {
			t.Errorf("%s: TBW102 perms %v, want %v", step.name, got, step.tbw)
		}
		if got := perms("orders"); !slices.Equal(got, step.order) {
			t.Errorf("%s: orders perms %v, want %v", step.name, got, step.order)
		}
	}
	// A wipe stands while the broker registers the same data version (add left 6, not the
	// 7 registered), and goes with a new one.
	ask(t, e, remoting.WipeWritePermOfBroker, "", "brokerName", "broker-a")
	call(t, e.cl, e.addr, masterA.register())
	if got := perms("TBW102"); !slices.Equal(got, []int32{4}) {
		t.Errorf("after a registration of the same version: %v", got)
	}
	call(t, e.cl, e.addr, withTopics(masterA, 2, tbw102, orders).register())
	if got := perms("TBW102"); !slices.Equal(got, []int32{7}) {
		t.Errorf("after a new version: %v", got)
	}
}

func TestSystemAndUnitTopicListsAsJava(t *testing.T) {
	e := newEnv(t)
	if body := string(ask(t, e, remoting.GetSystemTopicListFromNS, "").Body); body != `{"topicList":[]}` {
		t.Errorf("empty: %s", body)
	}
	unit, unitSub, both := topicConfig("unit", 1, 6), topicConfig("unitSub", 1, 6), topicConfig("both", 1, 6)
	unit.TopicSysFlag, unitSub.TopicSysFlag, both.TopicSysFlag = flagUnit, flagUnitSub, flagUnit|flagUnitSub
	call(t, e.cl, e.addr, withTopics(masterA, 1, tbw102, unit, unitSub, both).register())
	call(t, e.cl, e.addr, slaveA.register())
	// The reference NameServer with one broker answered {"brokerAddr":"127.0.0.1:10941",
	// "topicList":["broker-mqa","DefaultCluster"]}.
	if body := string(ask(t, e, remoting.GetSystemTopicListFromNS, "").Body); body !=
		`{"brokerAddr":"10.0.0.1:10911","topicList":["broker-a","DefaultCluster"]}` {
		t.Errorf("system topics: %s", body)
	}
	for _, tc := range []struct {
		code remoting.RequestCode
		want string
	}{
		{remoting.GetUnitTopicList, `{"topicList":["unit","both"]}`},
		{remoting.GetHasUnitSubTopicList, `{"topicList":["unitSub","both"]}`},
		{remoting.GetHasUnitSubUnunitTopicList, `{"topicList":["unitSub"]}`},
	} {
		if body := string(ask(t, e, tc.code, "").Body); body != tc.want {
			t.Errorf("%s: %s, want %s", tc.code, body, tc.want)
		}
	}
}

func TestNamesrvConfigAsJava(t *testing.T) {
	t.Setenv("ROCKETMQ_HOME", "")
	e := newEnv(t)
	config := func() ([]string, map[string]string) {
		var keys []string
		values := map[string]string{}
		for line := range strings.Lines(string(ask(t, e, remoting.GetNameServerConfig, "").Body)) {
			k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
			keys = append(keys, k)
			values[k] = v
		}
		return keys, values
	}
	keys, values := config()
	var want []string
	for _, k := range namesrvConfigKeys {
		if k.Name != "rocketmqHome" { // null without ROCKETMQ_HOME: left out, as Java does
			want = append(want, k.Name)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want the reference NameServer's %q", keys, want)
	}
	if _, port, _ := net.SplitHostPort(e.addr); values["listenPort"] != port || values["productEnvName"] != "center" ||
		!strings.HasSuffix(values["kvConfigPath"], "/namesrv/kvConfig.json") {
		t.Errorf("values %v", values)
	}
	// updateNamesrvConfig, checked against the reference NameServer: known keys parsed as
	// their fields, the others ignored; no body changes nothing.
	ask(t, e, remoting.UpdateNameServerConfig, "clusterTest=TRUE\nserverWorkerThreads=abc\nproductEnvName= dev \nfoo=1\n")
	ask(t, e, remoting.UpdateNameServerConfig, "")
	_, values = config()
	for k, v := range map[string]string{"clusterTest": "true", "serverWorkerThreads": "8", "productEnvName": "dev ", "foo": ""} {
		if values[k] != v {
			t.Errorf("%s=%q, want %q", k, values[k], v)
		}
	}
}

func TestQueryDataVersionAsJava(t *testing.T) {
	e := newEnv(t)
	call(t, e.cl, e.addr, masterA.register()) // version counter 1
	for _, tc := range []struct {
		name, addr, body string
		changed          string
		known            string
	}{
		{"the version the NameServer has", masterA.addr, `{"counter":1,"timestamp":1700000000000}`, "false",
			`{"counter":1,"timestamp":1700000000000}`},
		{"another version", masterA.addr, `{"counter":2,"timestamp":1700000000000}`, "true",
			`{"counter":1,"timestamp":1700000000000}`},
		{"a broker the NameServer does not know", "10.9.9.9:10911", `{"counter":1,"timestamp":1700000000000}`, "true", ""},
	} {
		resp := ask(t, e, remoting.QueryDataVersion, tc.body, "brokerAddr", tc.addr, "brokerName", "broker-a",
			"clusterName", "DefaultCluster", "brokerId", "0")
		if resp.Ext.Get("changed") != tc.changed || string(resp.Body) != tc.known {
			t.Errorf("%s: changed %q body %q, want %s %q", tc.name, resp.Ext.Get("changed"), resp.Body, tc.changed, tc.known)
		}
	}
}
