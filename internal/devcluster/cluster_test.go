package devcluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	np "github.com/cloudwego/netpoll"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster/faults"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

var quiet = slog.New(slog.DiscardHandler)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startCluster starts a cluster on free ports, closed with the test.
func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	c, err := Start(ctxFor(t, 30*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func newClient(t *testing.T) *netpoll.Client {
	t.Helper()
	cl, err := netpoll.NewClient(netpoll.ClientConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return cl
}

func invoke(t *testing.T, cl *netpoll.Client, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	req.Language, req.Version = remoting.LanguageJava, remoting.Version494
	resp, err := cl.Invoke(ctxFor(t, 10*time.Second), addr, req)
	if err != nil {
		t.Fatalf("%s to %s: %v", remoting.RequestCode(req.Code), addr, err)
	}
	return resp
}

func routeReq(topic string) *remoting.Command {
	return &remoting.Command{Code: int32(remoting.GetRouteInfoByTopic), Ext: remoting.ExtFields{{Key: "topic", Value: topic}}}
}

// routed reports whether the NameServer routes topic to the cluster's broker.
func routed(t *testing.T, cl *netpoll.Client, c *Cluster, topic string) bool {
	t.Helper()
	resp := invoke(t, cl, c.NameServerAddr(), routeReq(topic))
	if resp.Code != int32(remoting.Success) {
		return false
	}
	var r remoting.TopicRouteData
	if err := r.Decode(resp.Body); err != nil {
		t.Fatal(err)
	}
	return len(r.Brokers) == 1 && r.Brokers[0].MasterAddr() == c.BrokerAddr()
}

func createTopic(t *testing.T, cl *netpoll.Client, c *Cluster, topic string) {
	t.Helper()
	resp := invoke(t, cl, c.BrokerAddr(), remoting.NewRequest(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{
		Topic: topic, DefaultTopic: "TBW102", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}))
	if resp.Code != int32(remoting.Success) {
		t.Fatalf("create topic: %s %q", remoting.ResponseCode(resp.Code), resp.Remark)
	}
	waitFor(t, topic+" routed", 10*time.Second, func() bool { return routed(t, cl, c, topic) })
}

// send stores one message in queue 0 of topic.
func send(t *testing.T, cl *netpoll.Client, c *Cluster, topic string) {
	t.Helper()
	req := remoting.NewRequest(remoting.SendMessageV2, (&remoting.SendRequest{ProducerGroup: "pg", Topic: topic,
		DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, BornTimestamp: time.Now().UnixMilli()}).V2())
	req.Body = []byte("hello")
	if resp := invoke(t, cl, c.BrokerAddr(), req); resp.Code != int32(remoting.Success) {
		t.Fatalf("send: %s %q", remoting.ResponseCode(resp.Code), resp.Remark)
	}
}

func maxOffset(t *testing.T, cl *netpoll.Client, c *Cluster, topic string) int64 {
	t.Helper()
	resp := invoke(t, cl, c.BrokerAddr(), remoting.NewRequest(remoting.GetMaxOffset, &remoting.MaxOffsetRequest{Topic: topic}))
	if resp.Code != int32(remoting.Success) {
		t.Fatalf("max offset: %s %q", remoting.ResponseCode(resp.Code), resp.Remark)
	}
	n, err := strconv.ParseInt(resp.Ext.Get("offset"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

func TestStartRoutesTBW102AtOnce(t *testing.T) {
	c := startCluster(t, Config{})
	if !routed(t, newClient(t), c, "TBW102") {
		t.Fatal("TBW102 not routed when Start returned")
	}
}

func TestStartAndCloseLeaveNoGoroutines(t *testing.T) {
	for _, mode := range []string{"memory", "files"} {
		t.Run(mode, func(t *testing.T) {
			np.Initialize() // netpoll's pollers are process-wide and live forever
			runtime.GC()
			base := runtime.NumGoroutine()
			for range 2 {
				cfg := Config{Logger: quiet}
				if mode == "files" {
					cfg.DataDir = t.TempDir()
				}
				c, err := Start(ctxFor(t, 30*time.Second), cfg)
				if err != nil {
					t.Fatal(err)
				}
				cl, _ := netpoll.NewClient(netpoll.ClientConfig{Logger: quiet})
				if resp, err := cl.Invoke(ctxFor(t, 5*time.Second), c.NameServerAddr(), routeReq("TBW102")); err != nil || resp.Code != 0 {
					t.Fatalf("route: %v %v", resp, err)
				}
				_ = cl.Close(context.Background())
				if err := c.RestartBroker(ctxFor(t, 30*time.Second)); err != nil {
					t.Fatal(err)
				}
				if err := c.Close(ctxFor(t, 30*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for runtime.NumGoroutine() > base {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					t.Fatalf("goroutines %d, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestCloseRemovesTheTemporaryStateDirectory(t *testing.T) {
	c, err := Start(ctxFor(t, 30*time.Second), Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.tmpDir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("state directory: %v", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state directory %s left behind: %v", dir, err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := c.RestartBroker(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("restart after close: %v", err)
	}
}

func TestBrokerRestartKeepsPortRoutesAndMessages(t *testing.T) {
	for _, mode := range []string{"memory", "files"} {
		t.Run(mode, func(t *testing.T) {
			cfg := Config{}
			if mode == "files" {
				cfg.DataDir = t.TempDir()
			}
			c := startCluster(t, cfg)
			cl := newClient(t)
			createTopic(t, cl, c, "orders")
			send(t, cl, c, "orders")
			ns, br := c.NameServerAddr(), c.BrokerAddr()

			if err := c.RestartBroker(ctxFor(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			if c.NameServerAddr() != ns || c.BrokerAddr() != br {
				t.Fatalf("addresses moved: %s %s, were %s %s", c.NameServerAddr(), c.BrokerAddr(), ns, br)
			}
			if !routed(t, cl, c, "orders") {
				t.Fatal("orders not routed after the broker restarted")
			}
			if n := maxOffset(t, cl, c, "orders"); n != 1 {
				t.Fatalf("max offset %d after the restart, want the message sent before it", n)
			}
			if mode == "files" {
				if _, err := os.Stat(filepath.Join(cfg.DataDir, "commitlog")); err != nil {
					t.Errorf("commit log not in the data directory: %v", err)
				}
			}
		})
	}
}

func TestStoppedBrokerIsNotRoutedUntilStarted(t *testing.T) {
	c := startCluster(t, Config{})
	cl := newClient(t)
	if err := c.StopBroker(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if routed(t, cl, c, "TBW102") {
		t.Fatal("a stopped broker is still routed")
	}
	if err := c.StopBroker(context.Background()); err != nil {
		t.Fatalf("stopping a stopped broker: %v", err)
	}
	if err := c.StartBroker(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !routed(t, cl, c, "TBW102") {
		t.Fatal("not routed once started again")
	}
	if err := c.StartBroker(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("starting a running broker: %v", err)
	}
}

func TestNameServerRestartLosesRoutesUntilTheBrokerRegisters(t *testing.T) {
	c := startCluster(t, Config{})
	cl := newClient(t)
	ns := c.NameServerAddr()
	if err := c.StopNameServer(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Invoke(ctxFor(t, 5*time.Second), ns, routeReq("TBW102")); !errors.Is(err, netpoll.ErrConnClosed) {
		t.Fatalf("a stopped NameServer answered: %v", err)
	}
	if err := c.StartNameServer(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if c.NameServerAddr() != ns {
		t.Fatalf("NameServer moved from %s to %s", ns, c.NameServerAddr())
	}
	if !routed(t, cl, c, "TBW102") {
		t.Fatal("routes not back when StartNameServer returned")
	}
	if err := c.RestartNameServer(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if !routed(t, cl, c, "TBW102") {
		t.Fatal("routes not back when RestartNameServer returned")
	}
}

func TestDropConnectionsClosesClientsAndRoutesComeBack(t *testing.T) {
	c := startCluster(t, Config{})
	cl := newClient(t)
	maxOffset(t, cl, c, "TBW102") // the broker has accepted the connection
	conn, err := cl.Conn(ctxFor(t, 5*time.Second), c.BrokerAddr())
	if err != nil {
		t.Fatal(err)
	}
	c.DropConnections()
	select {
	case <-conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the broker connection survived DropConnections")
	}
	// The NameServer forgot the broker with its connection; it registers again within
	// RegisterInterval.
	waitFor(t, "TBW102 routed again", 10*time.Second, func() bool { return routed(t, cl, c, "TBW102") })
	if n := maxOffset(t, cl, c, "TBW102"); n < 0 {
		t.Fatalf("broker not serving after DropConnections: %d", n)
	}
}

func TestFaultsAsSeenByAClient(t *testing.T) {
	c := startCluster(t, Config{})
	cl := newClient(t)
	f := c.Faults()
	cases := []struct {
		name     string
		inject   func()
		code     remoting.RequestCode
		addr     func() string
		want     remoting.ResponseCode
		remark   string
		atLeast  time.Duration
		injected int
	}{
		{name: "a delayed route lookup on the NameServer answers late", code: remoting.GetRouteInfoByTopic,
			inject: func() { f.Delay(remoting.GetRouteInfoByTopic, 200*time.Millisecond) }, addr: c.NameServerAddr,
			want: remoting.Success, atLeast: 200 * time.Millisecond, injected: 1},
		{name: "a failed route lookup answers the injected code", code: remoting.GetRouteInfoByTopic,
			inject: func() { f.Fail(remoting.GetRouteInfoByTopic, remoting.SystemError, "injected") }, addr: c.NameServerAddr,
			want: remoting.SystemError, remark: "injected", injected: 1},
		{name: "a busy broker answers SYSTEM_BUSY", code: remoting.GetMaxOffset,
			inject: func() { f.SystemBusy(remoting.GetMaxOffset, true) }, addr: c.BrokerAddr,
			want: remoting.SystemBusy, remark: faults.BusyRemark, injected: 1},
		{name: "cleared faults answer normally", code: remoting.GetMaxOffset,
			inject: func() { f.SystemBusy(remoting.GetMaxOffset, true); f.Clear() }, addr: c.BrokerAddr,
			want: remoting.Success},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.Clear()
			before := f.Injected(tc.code)
			tc.inject()
			defer f.Clear()
			req := routeReq("TBW102")
			if tc.code == remoting.GetMaxOffset {
				req = remoting.NewRequest(remoting.GetMaxOffset, &remoting.MaxOffsetRequest{Topic: "TBW102"})
			}
			start := time.Now()
			resp := invoke(t, cl, tc.addr(), req)
			if took := time.Since(start); took < tc.atLeast {
				t.Errorf("answered after %v, want at least %v", took, tc.atLeast)
			}
			if resp.Code != int32(tc.want) || tc.remark != "" && resp.Remark != tc.remark {
				t.Errorf("got %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.want, tc.remark)
			}
			if got := f.Injected(tc.code) - before; got != tc.injected {
				t.Errorf("injected %d times, want %d", got, tc.injected)
			}
		})
	}
}

func TestStartRefusesBadConfigs(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(bad, []byte("accounts:\n- accessKey: short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"negative delay factor":    {DelayFactor: -1},
		"too many queues":          {QueuesPerTopic: 1025},
		"bad address":              {BrokerAddr: "nowhere"},
		"negative register period": {RegisterInterval: -time.Second},
		"missing ACL file":         {ACL: filepath.Join(t.TempDir(), "missing.yml")},
		"bad ACL file":             {ACL: bad},
	} {
		cfg.Logger = quiet
		if c, err := Start(context.Background(), cfg); err == nil {
			_ = c.Close(context.Background())
			t.Errorf("%s: started", name)
		}
	}
}

func TestStartFailsCleanlyWhenThePortIsTaken(t *testing.T) {
	c := startCluster(t, Config{})
	if other, err := Start(ctxFor(t, 30*time.Second), Config{NameServerAddr: c.NameServerAddr(), Logger: quiet}); err == nil {
		_ = other.Close(context.Background())
		t.Fatal("a second cluster started on a taken NameServer port")
	}
	if other, err := Start(ctxFor(t, 30*time.Second), Config{BrokerAddr: c.BrokerAddr(), Logger: quiet}); err == nil {
		_ = other.Close(context.Background())
		t.Fatal("a second cluster started on a taken broker port")
	}
}

func TestACLFileTurnsOnAccessControl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(distributionACL), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, Config{ACL: path})
	cl := newClient(t)
	sendTo := func(topic string) *remoting.Command {
		req := remoting.NewRequest(remoting.SendMessageV2, (&remoting.SendRequest{ProducerGroup: "pg", Topic: topic,
			DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: -1, BornTimestamp: time.Now().UnixMilli()}).V2())
		req.Body = []byte("payload")
		return req
	}
	sign := func(accessKey, secretKey string) func(*remoting.Command) {
		hook := instance.NewACLHook(accessKey, secretKey, "")
		return func(req *remoting.Command) {
			if err := hook.BeforeRequest(c.BrokerAddr(), req); err != nil {
				t.Fatal(err)
			}
		}
	}
	const where = ", org.apache.rocketmq.acl.plain.PlainPermissionManager."
	for _, tc := range []struct {
		name   string
		topic  string
		sign   func(*remoting.Command)
		code   remoting.ResponseCode
		remark string
	}{
		{"a send signed by the native ACL hook is accepted", "topicB", sign("RocketMQ", "12345678"), remoting.Success, ""},
		{"an unsigned send gets Java's refusal", "topicB", nil, remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No accessKey is configured" + where + "validate(PlainPermissionManager.java:663)"},
		{"a send signed with the wrong secret is refused", "topicB", sign("RocketMQ", "87654321"), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=RocketMQ" + where +
				"validate(PlainPermissionManager.java:683)"},
		{"a send to a forbidden topic is refused", "topicA", sign("RocketMQ", "12345678"), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No default permission for topic:topicA" + where +
				"checkPerm(PlainPermissionManager.java:610)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := sendTo(tc.topic)
			if tc.sign != nil {
				tc.sign(req)
			}
			resp := invoke(t, cl, c.BrokerAddr(), req)
			if resp.Code != int32(tc.code) || resp.Remark != tc.remark {
				t.Errorf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
		})
	}
}
