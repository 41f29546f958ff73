package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/mqgate/mqgate/remoting"
)

func init() { rlog.SetLogLevel("error") }

// cluster is what a test runs against.
type cluster struct {
	namesrv string
	broker  string
	real    bool
	// delayUnit is how long delay level 1 ("1s") lasts on this cluster.
	delayUnit time.Duration
}

var runID = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

// name returns a topic or group name unique to this run, so runs against a long-lived
// real broker do not see each other's messages.
func name(t *testing.T, kind string) string {
	return fmt.Sprintf("%s_%s_%s", kind, runID, sanitize(t.Name()))
}

func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			out[i] = '_'
		}
	}
	if len(out) > 80 {
		out = out[len(out)-80:]
	}
	return string(out)
}

// startCluster returns the real broker when ROCKETMQ_NAMESRV is set, else a devcluster
// private to the test.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	if ns := os.Getenv("ROCKETMQ_NAMESRV"); ns != "" {
		c := &cluster{namesrv: ns, broker: os.Getenv("ROCKETMQ_BROKER"), real: true, delayUnit: time.Second}
		if c.broker == "" {
			c.broker = c.masterBroker(t)
		}
		return c
	}
	return startDevCluster(t)
}

// invoke sends one request on a fresh connection and reads its response, with nothing of
// mqgate's transport in between: the suite must not depend on the code it vouches for.
func invoke(t *testing.T, addr string, req *remoting.Command) *remoting.Command {
	t.Helper()
	resp, err := rawInvoke(addr, req)
	if err != nil {
		t.Fatalf("request %s to %s: %v", remoting.RequestCode(req.Code), addr, err)
	}
	return resp
}

var opaque atomic.Int32

func rawInvoke(addr string, req *remoting.Command) (*remoting.Command, error) {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req.Opaque = opaque.Add(1)
	req.Language = remoting.LanguageJava
	req.Version = 401
	frame, err := req.AppendFrame(nil)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(frame); err != nil {
		return nil, err
	}
	for {
		var prefix [4]byte
		if _, err := readFull(conn, prefix[:]); err != nil {
			return nil, err
		}
		n, err := remoting.FrameLength(prefix[:], 0)
		if err != nil {
			return nil, err
		}
		payload := make([]byte, n)
		if _, err := readFull(conn, payload); err != nil {
			return nil, err
		}
		resp := new(remoting.Command)
		if err := resp.Decode(payload); err != nil {
			return nil, err
		}
		if resp.IsResponse() && resp.Opaque == req.Opaque {
			return resp, nil
		}
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// masterBroker finds the master broker of the cluster through GET_BROKER_CLUSTER_INFO.
func (c *cluster) masterBroker(t *testing.T) string {
	t.Helper()
	resp := invoke(t, c.namesrv, &remoting.Command{Code: int32(remoting.GetBrokerClusterInfo)})
	if resp.Code != int32(remoting.Success) {
		t.Fatalf("cluster info: %s %s", remoting.ResponseCode(resp.Code), resp.Remark)
	}
	var info remoting.ClusterInfo
	if err := info.Decode(resp.Body); err != nil {
		t.Fatalf("cluster info body: %v", err)
	}
	for _, b := range info.Brokers {
		if addr := b.MasterAddr(); addr != "" {
			return addr
		}
	}
	t.Fatalf("no master broker in cluster info %s", resp.Body)
	return ""
}

// createTopic creates topic on the broker with n read and write queues and waits until the
// NameServer routes it.
func (c *cluster) createTopic(t *testing.T, topic string, queues int) {
	t.Helper()
	req := &remoting.Command{Code: int32(remoting.UpdateAndCreateTopic), Ext: remoting.ExtFields{
		{Key: "topic", Value: topic},
		{Key: "defaultTopic", Value: "TBW102"},
		{Key: "readQueueNums", Value: strconv.Itoa(queues)},
		{Key: "writeQueueNums", Value: strconv.Itoa(queues)},
		{Key: "perm", Value: "6"},
		{Key: "topicFilterType", Value: "SINGLE_TAG"},
		{Key: "topicSysFlag", Value: "0"},
		{Key: "order", Value: "false"},
	}}
	resp := invoke(t, c.broker, req)
	if resp.Code != int32(remoting.Success) {
		t.Fatalf("create topic %s: %s %s", topic, remoting.ResponseCode(resp.Code), resp.Remark)
	}
	eventually(t, 10*time.Second, "topic "+topic+" routed", func() bool {
		resp, err := rawInvoke(c.namesrv, &remoting.Command{Code: int32(remoting.GetRouteInfoByTopic),
			Ext: remoting.ExtFields{{Key: "topic", Value: topic}}})
		return err == nil && resp.Code == int32(remoting.Success)
	})
}

// maxOffset asks the broker for the max offset of a queue.
func (c *cluster) maxOffset(topic string, queue int) (int64, error) {
	resp, err := rawInvoke(c.broker, &remoting.Command{Code: int32(remoting.GetMaxOffset), Ext: remoting.ExtFields{
		{Key: "topic", Value: topic}, {Key: "queueId", Value: strconv.Itoa(queue)},
	}})
	if err != nil {
		return 0, err
	}
	if resp.Code != int32(remoting.Success) {
		return 0, fmt.Errorf("max offset of %s/%d: %s %s", topic, queue, remoting.ResponseCode(resp.Code), resp.Remark)
	}
	return strconv.ParseInt(resp.Ext.Get("offset"), 10, 64)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
