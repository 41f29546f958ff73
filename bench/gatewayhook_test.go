package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqgate/mqgate/gateway"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/internal/wasmgen"
)

// BenchmarkGatewayHookOverhead is BenchmarkSendHookOverhead on the gateway's whole send
// path: what a send hook costs its users, who send over HTTP. Two in-process gateways on
// the same dev cluster, one with the enricher as a [[plugin]] in the send slot and one
// without, take turns of messages POSTed by 64 keep-alive HTTP clients; overhead-% is the
// median of the turns' differences in the gateways' CPU per message. The HTTP clients run
// in a child process (as the dev cluster does), so that the CPU counted is the gateway's
// alone: the application's is not the gateway's to claim. "single" is one message per
// request (the gateway's coalescing batches concurrent requests into SEND_BATCH_MESSAGE,
// as by default); "batch" is 32 per request to the batch endpoint. The -passthrough hooks
// have nothing to change (the requests carry the header already), as in
// BenchmarkSendHookOverhead; "none" runs the same turns on two gateways without a hook,
// which shows the method's own bias and noise. With ROCKETMQ_NAMESRV set, the gateways send to that broker
// instead of the dev cluster.
//
//	cd bench && go test -run '^$' -bench GatewayHookOverhead -benchtime 100000x .
func BenchmarkGatewayHookOverhead(b *testing.B) {
	ns := hookBenchNameServer(b)
	for _, mode := range []struct {
		name       string
		path       string
		perRequest int
		turn       int // messages a turn: ~50 ms of the gateway's CPU
	}{
		{"single", "/messages", 1, 2000},
		{"batch", "/messages/batch", 32, 6400},
	} {
		// "none": two gateways without a hook, the method's own bias and noise.
		for _, hook := range []string{"none", "wasm", "wasm-noruntime", "wasm-c", "wasm-noruntime-passthrough", "wasm-c-passthrough"} {
			b.Run("mode="+mode.name+"/hook="+hook, func(b *testing.B) {
				wasm, config := benchWasm(b, hook)
				passthrough := strings.HasSuffix(hook, "-passthrough")
				load := startHTTPLoad(b)
				plain := startBenchGateway(b, ns, nil, "")
				hooked := startBenchGateway(b, ns, wasm, config)
				topic := prodTopic("GatewayHook", mode.name)
				urls := map[*gateway.Gateway]string{}
				for _, g := range []*gateway.Gateway{plain, hooked} { // routes and connections outside the turns
					urls[g] = "http://" + g.Addr() + "/v1/topics/" + topic + mode.path
					if err := load.turn(urls[g], mode.perRequest, gatewaySenders*mode.perRequest, passthrough); err != nil {
						b.Fatal(err)
					}
				}
				var calls0 uint64
				if wasm != nil {
					calls0 = pluginCalls(b, hooked)
				}
				b.ResetTimer()
				t := pairedTurns(b, b.N, mode.turn, mode.perRequest,
					func(n int) error { return load.turn(urls[plain], mode.perRequest, n, passthrough) },
					func(n int) error { return load.turn(urls[hooked], mode.perRequest, n, passthrough) })
				b.StopTimer()
				b.ReportMetric(t.overhead(), "overhead-%")
				b.ReportMetric(float64(t.plainCPU.Nanoseconds())/float64(b.N), "none-cpu-ns/msg")
				b.ReportMetric(float64(t.hookedCPU.Nanoseconds())/float64(b.N), "hook-cpu-ns/msg")
				b.ReportMetric(0, "ns/op")
				if wasm == nil {
					return
				}
				calls := pluginCalls(b, hooked) - calls0
				if calls == 0 {
					b.Fatal("the hook never ran")
				}
				b.ReportMetric(float64(b.N)/float64(calls), "msgs/call")
			})
		}
	}
}

// benchWasm returns a hook's module and its configuration (see benchHook).
func benchWasm(b *testing.B, name string) (wasm []byte, config string) {
	switch name {
	case "none":
		return nil, ""
	case "wasm":
		return plugintest.Build(b, "plugins/enricher"), enricherConfig
	case "wasm-noruntime":
		return wasmgen.Enricher("x-gateway", "eu-1", true), enricherConfig
	case "wasm-c":
		return plugintest.BuildC(b, "plugins/cenricher"), cEnricherConfig
	case "wasm-noruntime-passthrough":
		return wasmgen.Enricher("x-gateway", "eu-1", false), enricherConfig
	case "wasm-c-passthrough":
		return plugintest.BuildC(b, "plugins/cenricher"), cEnricherPassthrough
	}
	b.Fatalf("no hook %q", name)
	return nil, ""
}

// startBenchGateway starts a gateway on the dev cluster at ns, with wasm as the enricher in
// the send slot unless nil, and its admin API behind benchAdminToken.
func startBenchGateway(b *testing.B, ns string, wasm []byte, config string) *gateway.Gateway {
	quiet := slog.New(slog.DiscardHandler)
	adminListen := "127.0.0.1:0"
	cfg := gateway.Config{
		HTTP:     gateway.HTTPConfig{Listen: "127.0.0.1:0"},
		Client:   gateway.ClientConfig{NameServers: []string{ns}},
		Producer: gateway.ProducerConfig{Group: "bench_gateway_hook"},
		Admin:    gateway.AdminConfig{Listen: &adminListen, Tokens: []gateway.AdminToken{{Name: "bench", Token: benchAdminToken, Scopes: []string{"*"}}}},
		Logger:   quiet,
	}
	dir := b.TempDir() // each its own plugin store: a store serves one gateway
	cfg.Plugins = gateway.PluginsConfig{Dir: filepath.Join(dir, "store"), CacheDir: filepath.Join(dir, "cache")}
	if wasm != nil {
		file := filepath.Join(dir, "enricher.wasm")
		if err := os.WriteFile(file, wasm, 0o644); err != nil {
			b.Fatal(err)
		}
		var pc map[string]any
		if err := json.Unmarshal([]byte(config), &pc); err != nil {
			b.Fatal(err)
		}
		cfg.Plugin = []gateway.PluginConfig{{Name: "enricher", File: file, Slot: "send",
			Instances: wasmInstances, MaxInstances: wasmInstances, Config: pc}}
	}
	g, err := gateway.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Shutdown(ctx) })
	return g
}

// pluginCalls returns the enricher's calls, as the admin API reports them.
func pluginCalls(b *testing.B, g *gateway.Gateway) uint64 {
	req := httptest.NewRequest(http.MethodGet, "/v1/plugins/enricher", nil)
	req.Header.Set("Authorization", "Bearer "+benchAdminToken)
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, req)
	var v struct {
		Status struct {
			Calls    uint64 `json:"calls"`
			Failures uint64 `json:"failures"`
		} `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != http.StatusOK {
		b.Fatalf("plugin status: %d %s", rec.Code, rec.Body)
	}
	if v.Status.Failures != 0 {
		b.Fatalf("hook failures: %d", v.Status.Failures)
	}
	return v.Status.Calls
}

// httpLoad is the child process that sends the benchmark's HTTP requests.
type httpLoad struct {
	in  io.Writer
	out *bufio.Reader
}

// startHTTPLoad starts the HTTP load child (runHTTPLoad), stopped with the benchmark.
func startHTTPLoad(b *testing.B) *httpLoad {
	in, out := startChild(b, "MQGATE_BENCH_HTTPLOAD")
	return &httpLoad{in: in, out: out}
}

// turn has the child send n messages to url, perRequest a request, and waits for it.
func (l *httpLoad) turn(url string, perRequest, n int, passthrough bool) error {
	if _, err := fmt.Fprintln(l.in, url, perRequest, n, passthrough); err != nil {
		return err
	}
	line, err := l.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("http load: %w", err)
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("http load: %s", line)
	}
	return nil
}

// runHTTPLoad is the child's side of httpLoad.turn: a line "url perRequest n passthrough"
// sends n 1 KiB messages from gatewaySenders keep-alive clients, and answers "ok" or the
// first error.
func runHTTPLoad() {
	tr := &http.Transport{MaxIdleConnsPerHost: gatewaySenders, MaxConnsPerHost: gatewaySenders}
	c := &http.Client{Transport: tr}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var url string
		var perRequest, n int
		var passthrough bool
		if _, err := fmt.Sscan(in.Text(), &url, &perRequest, &n, &passthrough); err != nil {
			fmt.Println("error:", err)
			continue
		}
		body := httpLoadBody(perRequest, passthrough)
		var next atomic.Int64
		var first atomic.Pointer[error]
		var wg sync.WaitGroup
		for range gatewaySenders {
			wg.Go(func() {
				for next.Add(int64(perRequest)) <= int64(n) {
					if err := post(c, url, body); err != nil {
						first.CompareAndSwap(nil, &err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := first.Load(); err != nil {
			fmt.Println("error:", *err)
			continue
		}
		fmt.Println("ok")
	}
}

func httpLoadBody(perRequest int, passthrough bool) []byte {
	m := map[string]any{"body": string(gatewayBody)}
	if passthrough { // the enricher's header already there
		m["properties"] = map[string]string{"x-gateway": "eu-1"}
	}
	if perRequest == 1 {
		body, _ := json.Marshal(m)
		return body
	}
	body, _ := json.Marshal(map[string]any{"messages": slices.Repeat([]any{m}, perRequest)})
	return body
}

func post(c *http.Client, url string, body []byte) error {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// benchAdminToken opens the benchmark gateways' admin API.
const benchAdminToken = "bench-admin-token-0123456789"
