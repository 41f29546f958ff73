package broker

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/remoting"
)

// brokerConfig asks for the broker's config and returns its lines' keys and values and
// the header's version.
func brokerConfig(t *testing.T, tb *testBroker) (keys []string, values map[string]string, version string) {
	t.Helper()
	resp := tb.invoke(&remoting.Command{Code: int32(remoting.GetBrokerConfig), Version: remoting.Version494})
	if resp.Code != int32(remoting.Success) || resp.Remark != "" {
		t.Fatalf("get broker config: %d %q", resp.Code, resp.Remark)
	}
	values = map[string]string{}
	for line := range strings.Lines(string(resp.Body)) {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if !ok || !strings.HasSuffix(line, "\n") {
			t.Fatalf("line %q", line)
		}
		keys = append(keys, k)
		values[k] = v
	}
	return keys, values, resp.Ext.Get("version")
}

func TestGetBrokerConfigListsJavasKeys(t *testing.T) {
	t.Setenv("ROCKETMQ_HOME", "/opt/rocketmq")
	tb := startBroker(t, nil)
	keys, values, version := brokerConfig(t, tb)
	want := []string{}
	for _, k := range brokerConfigKeys {
		if k.Name != "namesrvAddr" { // null without NameServers: left out, as Java does
			want = append(want, k.Name)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q\nwant the reference broker's %q", keys, want)
	}
	host, port, _ := net.SplitHostPort(tb.addr)
	for k, v := range map[string]string{
		"brokerName": "broker-a", "brokerClusterName": "DefaultCluster", "brokerIP1": host, "brokerIP2": host,
		"listenPort": port, "brokerId": "0", "brokerRole": "ASYNC_MASTER", "brokerPermission": "6",
		"autoCreateTopicEnable": "true", "defaultTopicQueueNums": "8", "maxMessageSize": "4194304",
		"messageDelayLevel": "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h", "aclEnable": "false",
		"rocketmqHome": "/opt/rocketmq", "registerNameServerPeriod": "3600000", "enablePropertyFilter": "false",
	} {
		if values[k] != v {
			t.Errorf("%s=%q, want %q", k, values[k], v)
		}
	}
	if !strings.HasPrefix(version, `{"counter":0,"timestamp":`) {
		t.Errorf("version %q", version)
	}
}

func TestUpdateBrokerConfigAsJava(t *testing.T) {
	// The same updates sent by mqadmin updateBrokerConfig to the reference 4.9.4 broker
	// showed these values back in getBrokerConfig.
	ns := startNameServer(t)
	tb := startBroker(t, func(c *Config) { c.NameServers = []string{ns.addr} })
	registration(t, ns.next(t)) // at start
	counter := 0
	for _, step := range []struct {
		name, body string
		nilBody    bool
		key, want  string // the value getBrokerConfig shows after
	}{
		{"an int", "defaultTopicQueueNums=4\n", false, "defaultTopicQueueNums", "4"},
		{"an int that does not parse is left", "maxMessageSize=abc\n", false, "maxMessageSize", "4194304"},
		{"an int is written back as Java prints it", "maxIndexNum=+0042", false, "maxIndexNum", "42"},
		{"an enum by its String setter", "brokerRole=SLAVE\n", false, "brokerRole", "SLAVE"},
		{"an enum constant that does not exist is left", "brokerRole=BOGUS\n", false, "brokerRole", "SLAVE"},
		{"a boolean is parseBoolean", "traceOn=yes\n", false, "traceOn", "false"},
		{"a string keeps what Properties.load leaves", "brokerName= spaced \n", false, "brokerName", "spaced "},
		{"an unknown key is ignored", "fooBar=1\n", false, "fooBar", ""},
		{"Properties.load separators and comments", "# c\n! c\n  deleteWhen : 03\nfileReservedTime 48\n", false,
			"deleteWhen", "03"},
		{"a request without a body changes nothing", "", true, "deleteWhen", "03"},
	} {
		req := &remoting.Command{Code: int32(remoting.UpdateBrokerConfig), Version: remoting.Version494}
		if !step.nilBody {
			req.Body = []byte(step.body)
			counter++
		}
		if resp := tb.invoke(req); resp.Code != int32(remoting.Success) || resp.Remark != "" {
			t.Fatalf("%s: %d %q", step.name, resp.Code, resp.Remark)
		}
		_, values, version := brokerConfig(t, tb)
		if values[step.key] != step.want {
			t.Errorf("%s: %s=%q, want %q", step.name, step.key, values[step.key], step.want)
		}
		if !strings.HasPrefix(version, `{"counter":`+itoa(counter)+`,`) {
			t.Errorf("%s: version %s, want counter %d", step.name, version, counter)
		}
	}
	if _, values, _ := brokerConfig(t, tb); values["fileReservedTime"] != "48" {
		t.Errorf("fileReservedTime=%q", values["fileReservedTime"])
	}
}

func TestUpdateBrokerConfigActsOnWhatADevBrokerHas(t *testing.T) {
	ns := startNameServer(t)
	tb := startBroker(t, func(c *Config) { c.NameServers = []string{ns.addr} })
	registration(t, ns.next(t))
	tb.createTopic("P", 1)
	update := func(body string) {
		t.Helper()
		req := &remoting.Command{Code: int32(remoting.UpdateBrokerConfig), Version: remoting.Version494, Body: []byte(body)}
		if resp := tb.invoke(req); resp.Code != int32(remoting.Success) {
			t.Fatalf("update %q: %d %q", body, resp.Code, resp.Remark)
		}
	}

	// brokerPermission: re-registered at once, each topic with the broker's perm alone.
	update("brokerPermission=2\n")
	var body remoting.RegisterBrokerBody
	for { // past the registration of P's creation
		_, body = registration(t, ns.next(t))
		if _, ok := body.TopicConfig.Topics["TBW102"]; ok {
			break
		}
	}
	if tc := body.TopicConfig.Topics["P"]; tc.Perm != 2 || tc.WriteQueueNums != 1 || body.TopicConfig.Topics["TBW102"].Perm != 2 {
		t.Errorf("registered %+v", body.TopicConfig.Topics)
	}
	res := tb.pull(pullHeader("g", "P", 0, 0, "*"))
	if res.code != remoting.NoPermission || res.remark != "the broker[127.0.0.1] pulling message is forbidden" {
		t.Errorf("pull from a write-only broker: %s %q", res.code, res.remark)
	}
	update("brokerPermission=6\n")
	if res := tb.pull(pullHeader("g", "P", 0, 0, "*")); res.code == remoting.NoPermission {
		t.Errorf("pull after perm 6: %s %q", res.code, res.remark)
	}

	// autoCreateTopicEnable: a send to an unknown topic is refused from now on.
	update("autoCreateTopicEnable=false\n")
	resp := tb.invoke(sendRequest("NewTopic", 0, []byte("x"), ""))
	if resp.Code != int32(remoting.TopicNotExist) {
		t.Errorf("send with auto-creation off: %s %q", remoting.ResponseCode(resp.Code), resp.Remark)
	}
	// autoCreateSubscriptionGroup: an unknown group's pull is refused.
	update("autoCreateSubscriptionGroup=false\n")
	if res := tb.pull(pullHeader("unknown-group", "P", 0, 0, "*")); res.code != remoting.SubscriptionGroupNotExist {
		t.Errorf("pull of an unknown group: %s %q", res.code, res.remark)
	}
}

func TestFormatDelayLevels(t *testing.T) {
	st, err := store.Open(store.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got := formatDelayLevels(st.DelayLevels()); got != "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h" {
		t.Errorf("default levels %q", got)
	}
	if got := formatDelayLevels([]time.Duration{10 * time.Millisecond, 48 * time.Hour}); got != "10ms 2d" {
		t.Errorf("scaled levels %q", got)
	}
}
