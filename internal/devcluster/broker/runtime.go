package broker

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// GET_BROKER_RUNTIME_INFO: AdminBrokerProcessor.getBrokerRuntimeInfo, the KVTable that
// mqadmin clusterList and brokerStatus print. The keys are Java's, put in Java's order
// (StoreStatsService.getRuntimeInfo, DefaultMessageStore.getRuntimeInfo, then
// prepareRuntimeInfo) into a HashMap, so the body lists them as a 4.9.4 broker does.
//
// What the store knows is real: boot time, commit log offsets, the earliest message (as
// Java finds it), and the messages and bytes put (counted from the queues' and the commit
// log's ends, as if the store had started today). What a dev broker does not measure is
// Java's idle value: the TPS samples, latencies and the put-time distribution are zeros,
// the thread pool queues empty with Java's default capacities. Disk figures are plausible
// constants (a 100 GiB disk 10% used), not the host's: the store may not be on disk at
// all.

// Disk figures reported in place of the host's.
const (
	diskTotal     = 100 << 30
	diskUsedRatio = "0.1"
)

// Java 4.9.4 BrokerConfig capacities of the thread pool queues.
const (
	sendThreadPoolQueueCapacity  = 10000
	pullThreadPoolQueueCapacity  = 100000
	queryThreadPoolQueueCapacity = 20000
	endTransactionQueueCapacity  = 100000
)

// putDistributeIdle is getPutMessageDistributeTimeStringInfo with no put timed.
const putDistributeIdle = "[<=0ms]:0 [0~10ms]:0 [10~50ms]:0 [50~100ms]:0 [100~200ms]:0 [200~500ms]:0 " +
	"[500ms~1s]:0 [1~2s]:0 [2~3s]:0 [3~4s]:0 [4~5s]:0 [5~10s]:0 [10s~]:0 "

func (b *Broker) handleBrokerRuntimeInfo(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	resp := response(req, remoting.Success, "")
	resp.Body = encodeKVTable(b.runtimeInfo())
	return resp
}

// runtimeInfo is prepareRuntimeInfo: a HashMap in iteration order.
func (b *Broker) runtimeInfo() *javaProps {
	now := b.now()
	var puts int64
	for _, q := range b.store.Queues() {
		puts += q.MaxOffset
	}
	maxCL := b.store.MaxCommitLogOffset()
	minCL := b.store.MinCommitLogOffset()
	if maxCL == 0 {
		minCL = -1 // getMinPhyOffset of a commit log without a file
	}
	// getEarliestMessageTime reads 2 × maxMessageSize bytes at the first message and gets
	// nothing until that much is written: a store under 8 MiB reports -1, as Java's does.
	earliest := int64(-1)
	if minCL >= 0 && maxCL-minCL >= 2*int64(b.maxMsgSize) {
		if m, err := b.store.Lookup(minCL); err == nil {
			earliest = m.StoreTimestamp
		}
	}
	times := max(puts, 1) // Java's divisor: never 0
	commitLogDir := filepath.Join(b.storeRootDir(), "commitlog")

	var p javaProps
	p.reset()
	i64 := func(k string, v int64) { p.put(k, strconv.FormatInt(v, 10)) }
	// StoreStatsService.getRuntimeInfo
	i64("bootTimestamp", b.bootTime.UnixMilli())
	p.put("runtime", formatRuntime(now.Sub(b.bootTime)))
	i64("putMessageEntireTimeMax", 0)
	i64("putMessageTimesTotal", times)
	i64("putMessageFailedTimes", 0)
	i64("putMessageSizeTotal", maxCL)
	p.put("putMessageDistributeTime", putDistributeIdle)
	p.put("putMessageAverageSize", javaDouble(float64(maxCL)/float64(times)))
	i64("dispatchMaxBuffer", 0)
	i64("getMessageEntireTimeMax", 0)
	for _, k := range []string{"putTps", "getFoundTps", "getMissTps", "getTotalTps", "getTransferedTps"} {
		p.put(k, "0.0 0.0 0.0")
	}
	p.put("putLatency99", "0.00")
	p.put("putLatency999", "0.00")
	// DefaultMessageStore.getRuntimeInfo
	p.put("commitLogDiskRatio_"+commitLogDir, diskUsedRatio)
	p.put("commitLogDiskRatio", diskUsedRatio)
	p.put("consumeQueueDiskRatio", diskUsedRatio)
	i64("commitLogMinOffset", minCL)
	i64("commitLogMaxOffset", maxCL)
	// AdminBrokerProcessor.prepareRuntimeInfo
	p.put("brokerVersionDesc", versionDesc(remoting.Version494))
	i64("brokerVersion", int64(remoting.Version494))
	i64("msgPutTotalYesterdayMorning", 0)
	i64("msgPutTotalTodayMorning", 0)
	i64("msgPutTotalTodayNow", puts)
	i64("msgGetTotalYesterdayMorning", 0)
	i64("msgGetTotalTodayMorning", 0)
	i64("msgGetTotalTodayNow", 0)
	i64("sendThreadPoolQueueSize", 0)
	i64("sendThreadPoolQueueCapacity", sendThreadPoolQueueCapacity)
	i64("pullThreadPoolQueueSize", 0)
	i64("pullThreadPoolQueueCapacity", pullThreadPoolQueueCapacity)
	i64("queryThreadPoolQueueSize", 0)
	i64("queryThreadPoolQueueCapacity", queryThreadPoolQueueCapacity)
	i64("EndTransactionQueueSize", 0)
	i64("EndTransactionThreadPoolQueueCapacity", endTransactionQueueCapacity)
	i64("dispatchBehindBytes", 0)
	i64("pageCacheLockTimeMills", 0)
	i64("sendThreadPoolQueueHeadWaitTimeMills", 0)
	i64("pullThreadPoolQueueHeadWaitTimeMills", 0)
	i64("queryThreadPoolQueueHeadWaitTimeMills", 0)
	i64("earliestMessageTimeStamp", earliest)
	i64("startAcceptSendRequestTimeStamp", 0)
	i64("remainTransientStoreBufferNumbs", math.MaxInt32) // transientStorePoolEnable=false
	p.put("remainHowManyDataToFlush", humanBytes(0))
	p.put("commitLogDirCapacity", fmt.Sprintf("Total : %s, Free : %s.", humanBytes(diskTotal), humanBytes(diskTotal*9/10)))
	p.order()
	return &p
}

// storeRootDir is storePathRootDir: the data directory, or Java's default
// ${user.home}/store for a store in memory.
func (b *Broker) storeRootDir() string {
	if b.cfg.DataDir != "" {
		if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
			return abs
		}
		return b.cfg.DataDir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, "store")
}

// encodeKVTable is KVTable.encode: {"table":{...}} in the map's order.
func encodeKVTable(p *javaProps) []byte {
	b := []byte(`{"table":{`)
	for i, e := range p.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, jsonString(e.key)...)
		b = append(b, ':')
		b = append(b, jsonString(e.value)...)
	}
	return append(b, "}}"...)
}

// formatRuntime is StoreStatsService.getFormatRuntime.
func formatRuntime(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", s/86400, s/3600%24, s/60%60, s%60)
}

// humanBytes is MixAll.humanReadableByteCount(bytes, false).
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	exp := int(math.Log(float64(n)) / math.Log(1024))
	return fmt.Sprintf("%.1f %ciB", float64(n)/math.Pow(1024, float64(exp)), "KMGTPE"[exp-1])
}

// javaDouble is String.valueOf(double) for the plain-notation range.
func javaDouble(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s
		}
	}
	return s + ".0"
}
