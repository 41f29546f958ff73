package broker

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/remoting"
)

// realRuntimeKeys are the keys of the reference 4.9.4 broker's GET_BROKER_RUNTIME_INFO
// body, in its order, less commitLogDiskRatio_<path> (whose place depends on the path).
var realRuntimeKeys = []string{
	"msgPutTotalTodayNow", "commitLogDiskRatio", "getFoundTps", "EndTransactionThreadPoolQueueCapacity",
	"sendThreadPoolQueueHeadWaitTimeMills", "putMessageDistributeTime", "queryThreadPoolQueueHeadWaitTimeMills",
	"remainHowManyDataToFlush", "msgGetTotalTodayNow", "putMessageFailedTimes", "putLatency999",
	"commitLogMaxOffset", "queryThreadPoolQueueSize", "getMessageEntireTimeMax", "msgPutTotalTodayMorning",
	"putMessageTimesTotal", "putLatency99", "bootTimestamp", "msgGetTotalTodayMorning",
	"msgPutTotalYesterdayMorning", "msgGetTotalYesterdayMorning", "pullThreadPoolQueueSize",
	"brokerVersionDesc", "sendThreadPoolQueueSize", "startAcceptSendRequestTimeStamp", "commitLogMinOffset",
	"putMessageEntireTimeMax", "pullThreadPoolQueueHeadWaitTimeMills", "runtime", "earliestMessageTimeStamp",
	"commitLogDirCapacity", "dispatchMaxBuffer", "brokerVersion", "putTps", "remainTransientStoreBufferNumbs",
	"getMissTps", "queryThreadPoolQueueCapacity", "putMessageAverageSize", "getTransferedTps",
	"dispatchBehindBytes", "putMessageSizeTotal", "sendThreadPoolQueueCapacity", "EndTransactionQueueSize",
	"getTotalTps", "pullThreadPoolQueueCapacity", "consumeQueueDiskRatio", "pageCacheLockTimeMills",
}

// runtimeInfo asks for the broker's runtime info and returns its table and key order.
func (tb *testBroker) runtimeInfo() (map[string]string, []string) {
	tb.t.Helper()
	resp := tb.invoke(&remoting.Command{Code: int32(remoting.GetBrokerRuntimeInfo), Version: remoting.Version494})
	if resp.Code != int32(remoting.Success) || resp.Remark != "" {
		tb.t.Fatalf("runtime info: %d %q", resp.Code, resp.Remark)
	}
	var kv struct{ Table map[string]string }
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		tb.t.Fatalf("%v: %s", err, resp.Body)
	}
	var keys []string
	dec := json.NewDecoder(strings.NewReader(string(resp.Body)))
	for depth := 0; ; {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' {
				depth++
			} else if tok == '}' {
				depth--
			}
		case string:
			if depth == 2 {
				keys = append(keys, tok)
				_, _ = dec.Token() // its value
			}
		}
	}
	return kv.Table, keys
}

func TestBrokerRuntimeInfoAsJava(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, func(c *Config) { c.DataDir = dir })
	table, keys := tb.runtimeInfo()
	pathKey := "commitLogDiskRatio_" + filepath.Join(dir, "commitlog")
	if _, ok := table[pathKey]; !ok {
		t.Errorf("no %s in %v", pathKey, keys)
	}
	if got := slices.DeleteFunc(keys, func(k string) bool { return k == pathKey }); !slices.Equal(got, realRuntimeKeys) {
		t.Errorf("keys\n%q\nwant the reference broker's\n%q", got, realRuntimeKeys)
	}
	tb.createTopic("RT", 1)
	tb.send("RT", 0, "hello", "")
	after, _ := tb.runtimeInfo()
	for _, tc := range []struct {
		key           string
		before, after string // "" when only checked to be present
	}{
		{"brokerVersionDesc", "V4_9_4", "V4_9_4"},
		{"brokerVersion", "401", "401"},
		{"commitLogMinOffset", "-1", "0"},        // no commit log file yet, then the first
		{"earliestMessageTimeStamp", "-1", "-1"}, // Java reads 8 MiB ahead: nothing yet
		{"putMessageTimesTotal", "1", "1"},       // Java never divides by zero
		{"msgPutTotalTodayNow", "0", "1"},
		{"putTps", "0.0 0.0 0.0", "0.0 0.0 0.0"}, // clusterList parses the first
		{"getTransferedTps", "0.0 0.0 0.0", "0.0 0.0 0.0"},
		{"commitLogDiskRatio", "0.1", "0.1"}, // clusterList's #SPACE
		{"sendThreadPoolQueueCapacity", "10000", "10000"},
		{"remainHowManyDataToFlush", "0 B", "0 B"},
		{"commitLogDirCapacity", "Total : 100.0 GiB, Free : 90.0 GiB.", "Total : 100.0 GiB, Free : 90.0 GiB."},
	} {
		if tc.before != "" && table[tc.key] != tc.before {
			t.Errorf("%s = %q before the send, want %q", tc.key, table[tc.key], tc.before)
		}
		if tc.after != "" && after[tc.key] != tc.after {
			t.Errorf("%s = %q after the send, want %q", tc.key, after[tc.key], tc.after)
		}
	}
	if n, _ := strconv.ParseInt(after["commitLogMaxOffset"], 10, 64); n <= 0 || after["putMessageSizeTotal"] != after["commitLogMaxOffset"] {
		t.Errorf("commitLogMaxOffset %q putMessageSizeTotal %q", after["commitLogMaxOffset"], after["putMessageSizeTotal"])
	}
}

func TestRuntimeInfoFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{humanBytes(0), "0 B"},
		{humanBytes(1023), "1023 B"},
		{humanBytes(1536), "1.5 KiB"},
		{humanBytes(252 << 30), "252.0 GiB"},
		{formatRuntime(90061e9), "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"},
		{javaDouble(0), "0.0"},
		{javaDouble(12.5), "12.5"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestEarliestMessageTimeOnceTwiceMaxMessageSizeIsStored(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		st, err := store.Open(store.Config{MaxMessageSize: 1024, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		c.Store = st
	})
	tb.createTopic("RT", 1)
	for tb.store.MaxCommitLogOffset() < 2048 {
		if table, _ := tb.runtimeInfo(); table["earliestMessageTimeStamp"] != "-1" {
			t.Fatalf("earliestMessageTimeStamp %s with %d bytes stored", table["earliestMessageTimeStamp"], tb.store.MaxCommitLogOffset())
		}
		tb.send("RT", 0, strings.Repeat("x", 500), "")
	}
	table, _ := tb.runtimeInfo()
	if ts, _ := strconv.ParseInt(table["earliestMessageTimeStamp"], 10, 64); ts != tb.store.StoreTimestamp("RT", 0, 0) {
		t.Errorf("earliestMessageTimeStamp %d, want the first message's store time %d", ts, tb.store.StoreTimestamp("RT", 0, 0))
	}
}
