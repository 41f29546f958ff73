// Command soak runs the gateway binary under load and churn for a while and reports how
// the process fares over time: RSS, CPU, threads, open files, log lines, the size of
// GET /v1/status, and at the end lost and duplicated messages, idle CPU and a goroutine
// dump. scripts/soak.sh builds what it needs and runs it; see there for how to read the
// output.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const token = "soak-token-0123456789abcdef"

type options struct {
	bin, plugins, dir           string
	duration, idle              time.Duration
	rate, batchRate             int
	httpPort, adminPort, nsPort int
	cycle                       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.bin, "gateway", "/tmp/soak/gateway", "the gateway binary")
	flag.StringVar(&o.plugins, "plugins", "/tmp/soak", "directory of enricher.wasm, tagfilter.wasm, averagely.wasm")
	flag.StringVar(&o.dir, "dir", "", "working directory (default: a new temporary one)")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long load and churn run")
	flag.DurationVar(&o.idle, "idle", time.Minute, "how long the idle gateway is watched after the load")
	flag.DurationVar(&o.cycle, "cycle", 40*time.Second, "a churn cycle: the second gateway runs for half of it")
	flag.IntVar(&o.rate, "rate", 150, "single sends per second")
	flag.IntVar(&o.batchRate, "batch-rate", 5, "batches of 10 per second")
	flag.IntVar(&o.httpPort, "port", 18080, "first gateway's HTTP port; +1 the second's")
	flag.IntVar(&o.adminPort, "admin-port", 19090, "first gateway's admin port")
	flag.IntVar(&o.nsPort, "namesrv-port", 19876, "dev NameServer port; +1035 the broker's")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// soak is the state of one run.
type soak struct {
	o                options
	dir              string
	t0               time.Time
	gw1              *gateway
	api1, api2, admn string
	hookURL          string
	client           *http.Client

	seq atomic.Int64
	// sent: seq -> topic of every message a send acknowledged; got: per group, seq -> times delivered.
	mu   sync.Mutex
	sent map[int64]string
	got  map[string]map[int64]int

	count counters
}

type counters struct {
	sendOK, sendErr, send5xx, batchOK, batchErr atomic.Int64
	recv, ack, nack, leaseLet, hook, hook500    atomic.Int64
	reloads, adminOK, adminErr                  atomic.Int64
	gw2Starts, gw2Slow                          atomic.Int64
	unexpected                                  sync.Map // "what: status" -> *atomic.Int64
}

func (c *counters) odd(what string) {
	v, _ := c.unexpected.LoadOrStore(what, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func run(o options) error {
	dir := o.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "mqgate-soak-"); err != nil {
			return err
		}
	}
	s := &soak{
		o: o, dir: dir,
		api1:   fmt.Sprintf("http://127.0.0.1:%d", o.httpPort),
		api2:   fmt.Sprintf("http://127.0.0.1:%d", o.httpPort+1),
		admn:   fmt.Sprintf("http://127.0.0.1:%d", o.adminPort),
		client: &http.Client{Timeout: 40 * time.Second},
		sent:   map[int64]string{},
		got:    map[string]map[int64]int{"soak-recv": {}, "soak-hook": {}},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Printf("soak: directory %s\n", dir)

	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.hookURL = "http://" + hookLn.Addr().String()
	hookSrv := &http.Server{Handler: http.HandlerFunc(s.webhook)}
	go hookSrv.Serve(hookLn)
	defer hookSrv.Close()

	if err := s.writeConfig(1, nil); err != nil {
		return err
	}
	if err := s.writeConfig(2, nil); err != nil {
		return err
	}
	if s.gw1, err = start(s.o.bin, dir, "gw1", "--dev"); err != nil {
		return err
	}
	defer s.gw1.kill()
	fmt.Printf("soak: gw1 pid %d: %s\n", s.gw1.cmd.Process.Pid, s.gw1.ready)
	for _, t := range []string{"SoakA", "SoakB", "SoakC"} {
		if code, body := s.admin("PUT", "/v1/topics/"+t, `{"read_queues": 8, "write_queues": 8}`); code != 200 {
			return fmt.Errorf("create topic %s: %d %s", t, code, body)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	s.t0 = time.Now()
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	samples := make(chan sample, 1024)
	go func() { s.sampleLoop(sampleCtx, samples); close(samples) }()

	goGroup := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	goGroup(s.produce)
	goGroup(s.produceBatches)
	for range 2 {
		goGroup(func(ctx context.Context) { s.receiveLoop(ctx, s.api1) })
	}
	goGroup(func(ctx context.Context) { s.receiveLoop(ctx, s.api2) })
	goGroup(s.reloadChurn)
	goGroup(s.adminChurn)
	goGroup(s.pluginChurn)
	goGroup(s.secondGateway)
	goGroup(func(ctx context.Context) { s.status(ctx) })
	wg.Wait()
	fmt.Printf("soak: load and churn done after %s; draining\n", o.duration)

	// Drain: keep receiving from gw1 until every message sent was delivered to both groups, or 90 s.
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 90*time.Second)
	var dwg sync.WaitGroup
	for range 2 {
		dwg.Add(1)
		go func() { defer dwg.Done(); s.receiveLoop(drainCtx, s.api1) }()
	}
	for drainCtx.Err() == nil && s.missing("soak-recv", "SoakA")+s.missing("soak-hook", "SoakB") > 0 {
		time.Sleep(time.Second)
	}
	cancelDrain()
	dwg.Wait()

	fmt.Printf("soak: idle for %s\n", o.idle)
	idleFrom := time.Since(s.t0)
	hooks := s.count.hook.Load()
	time.Sleep(o.idle)
	fmt.Printf("soak: %d webhook POSTs while idle\n", s.count.hook.Load()-hooks)
	stopSampling()
	var all []sample
	for x := range samples {
		all = append(all, x)
	}
	s.report(all, idleFrom)

	// The end: a goroutine dump of gw1 (SIGQUIT), summarized by stack.
	if err := s.gw1.dump(filepath.Join(dir, "gw1-goroutines.txt")); err != nil {
		fmt.Printf("soak: goroutine dump: %v\n", err)
	}
	return nil
}

// gateway is a gateway process.
type gateway struct {
	cmd    *exec.Cmd
	ready  string
	stderr *os.File
	done   chan error
}

func start(bin, dir, name string, args ...string) (*gateway, error) {
	errf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--config", name + ".toml"}, args...)...)
	cmd.Dir = dir
	cmd.Stderr = errf
	cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=", "OTEL_EXPORTER_OTLP_ENDPOINT=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateway{cmd: cmd, stderr: errf, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		g.done <- cmd.Wait()
		errf.Close()
	}()
	select {
	case g.ready = <-lines:
		return g, nil
	case err := <-g.done:
		return nil, fmt.Errorf("%s exited before serving: %v (see %s.log)", name, err, name)
	case <-time.After(60 * time.Second):
		g.kill()
		return nil, fmt.Errorf("%s not ready after 60s", name)
	}
}

// stop sends SIGTERM and returns how long the process took to exit, and its error.
func (g *gateway) stop(limit time.Duration) (time.Duration, error) {
	t := time.Now()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- err
		return time.Since(t), err
	case <-time.After(limit):
		g.kill()
		return time.Since(t), fmt.Errorf("no exit within %s of SIGTERM; killed", limit)
	}
}

func (g *gateway) kill() {
	if g.cmd.ProcessState == nil {
		g.cmd.Process.Kill()
	}
}

// dump sends SIGQUIT, waits for the exit and writes a summary of the goroutines to path.
func (g *gateway) dump(path string) error {
	name := g.stderr.Name()
	before, _ := os.Stat(name)
	g.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		g.kill()
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if before != nil && int(before.Size()) <= len(b) {
		b = b[before.Size():]
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	stacks := map[string]int{}
	n := 0
	for _, gr := range strings.Split(string(b), "\n\n") {
		if !strings.HasPrefix(gr, "goroutine ") {
			continue
		}
		n++
		var fns []string
		for _, l := range strings.Split(gr, "\n")[1:] {
			if !strings.HasPrefix(l, "\t") && l != "" && !strings.HasPrefix(l, "created by") {
				fns = append(fns, l[:max(0, strings.LastIndexByte(l, '('))])
			}
		}
		stacks[strings.Join(fns[:min(len(fns), 4)], " < ")]++
	}
	fmt.Printf("\ngoroutines of gw1 at the end: %d (dump in %s); by stack:\n", n, path)
	type kv struct {
		k string
		v int
	}
	var sorted []kv
	for k, v := range stacks {
		sorted = append(sorted, kv{k, v})
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].v > sorted[j].v })
	for _, e := range sorted[:min(len(sorted), 25)] {
		fmt.Printf("  %5d  %s\n", e.v, e.k)
	}
	return nil
}

// writeConfig writes gwN.toml with churn's extra consumers.
func (s *soak) writeConfig(n int, extra []string) error {
	var b strings.Builder
	o := s.o
	fmt.Fprintf(&b, "[http]\nlisten = \"127.0.0.1:%d\"\nshutdown_timeout = \"20s\"\n\n", o.httpPort+n-1)
	fmt.Fprintf(&b, "[client]\nnamesrv = [\"127.0.0.1:%d\"]\nheartbeat_interval = \"5s\"\npoll_namesrv_interval = \"10s\"\n\n", o.nsPort)
	if n == 1 {
		fmt.Fprintf(&b, "[dev]\nnamesrv_listen = \"127.0.0.1:%d\"\nbroker_listen = \"127.0.0.1:%d\"\ndelay_factor = 0.01\n\n", o.nsPort, o.nsPort+1035)
		fmt.Fprintf(&b, "[admin]\nlisten = \"127.0.0.1:%d\"\n[[admin.token]]\nname = \"soak\"\ntoken = %q\nscopes = [\"*\"]\n\n", o.adminPort, token)
		fmt.Fprintf(&b, "[plugins]\ndir = \"plugins-gw1\"\ncache_dir = \"wazero-cache\"\n\n")
	} else {
		fmt.Fprintf(&b, "[dev]\nenabled = false\n\n[admin]\nlisten = \"\"\n\n[plugins]\ncache_dir = \"wazero-cache\"\n\n")
	}
	fmt.Fprintf(&b, "[telemetry]\nenabled = true\ntraces = true\nmetrics = true\nsample_ratio = 0.1\n\n[log]\nlevel = \"info\"\n\n")
	fmt.Fprintf(&b, `[[consumer]]
group = "soak-recv"
subscriptions = [{ topic = "SoakA", expression = "*" }]
consume_from = "first"
rebalance_interval = "5s"
receive_invisible = "3s"

[[consumer]]
group = "soak-hook"
subscriptions = [{ topic = "SoakB", expression = "*" }]
consume_from = "first"
delivery = "webhook"
webhook_url = "%s/hook"
webhook_timeout = "2s"
rebalance_interval = "5s"

`, s.hookURL)
	for _, e := range extra {
		b.WriteString(e)
	}
	tmp := filepath.Join(s.dir, fmt.Sprintf("gw%d.toml.tmp", n))
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, fmt.Sprintf("gw%d.toml", n)))
}

var seqRE = regexp.MustCompile(`^seq:(\d+)`)

// webhook takes soak-hook's deliveries (and churn consumers'): 8% answer 500, 4% answer
// after 2.5 s (past the webhook timeout), 8% after 300 ms.
func (s *soak) webhook(w http.ResponseWriter, r *http.Request) {
	var m struct {
		Topic string `json:"topic"`
		Body  string `json:"body"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		s.count.odd("webhook: undecodable body")
		w.WriteHeader(400)
		return
	}
	s.count.hook.Add(1)
	switch x := rand.IntN(100); {
	case x < 8:
		s.count.hook500.Add(1)
		w.WriteHeader(500)
		return
	case x < 12:
		time.Sleep(2500 * time.Millisecond)
		return // timed out at the gateway: not delivered
	case x < 20:
		time.Sleep(300 * time.Millisecond)
	}
	if r.URL.Path == "/hook" {
		s.delivered("soak-hook", m.Body)
	}
}

func (s *soak) delivered(group, body string) {
	sm := seqRE.FindStringSubmatch(body)
	if sm == nil {
		s.count.odd(group + ": body without seq")
		return
	}
	n, _ := strconv.ParseInt(sm[1], 10, 64)
	s.mu.Lock()
	s.got[group][n]++
	s.mu.Unlock()
}

func (s *soak) missing(group, topic string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for q, t := range s.sent {
		if t == topic && s.got[group][q] == 0 {
			n++
		}
	}
	return n
}

func (s *soak) post(url, body string) (int, []byte, error) {
	resp, err := s.client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *soak) admin(method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, s.admn+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var topics = []string{"SoakA", "SoakB", "SoakC"}

// produce sends single messages at o.rate a second from 8 senders.
func (s *soak) produce(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * 8 / time.Duration(s.o.rate))
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				t := topics[(i+n)%len(topics)]
				q := s.seq.Add(1)
				msg := fmt.Sprintf(`{"body": "seq:%d", "tags": "T%d", "keys": ["k%d"]}`, q, q%3, q)
				code, b, err := s.post(s.api1+"/v1/topics/"+t+"/messages", msg)
				s.sentResult(t, []int64{q}, code, b, err, false)
			}
		}()
	}
	wg.Wait()
}

func (s *soak) produceBatches(ctx context.Context) {
	tick := time.NewTicker(time.Second / time.Duration(s.o.batchRate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t := topics[n%len(topics)]
		var msgs []string
		var seqs []int64
		for range 10 {
			q := s.seq.Add(1)
			seqs = append(seqs, q)
			msgs = append(msgs, fmt.Sprintf(`{"body": "seq:%d", "tags": "B"}`, q))
		}
		code, b, err := s.post(s.api1+"/v1/topics/"+t+"/messages/batch", `{"messages": [`+strings.Join(msgs, ",")+`]}`)
		s.sentResult(t, seqs, code, b, err, true)
	}
}

func (s *soak) sentResult(topic string, seqs []int64, code int, body []byte, err error, batch bool) {
	ok, bad := &s.count.sendOK, &s.count.sendErr
	if batch {
		ok, bad = &s.count.batchOK, &s.count.batchErr
	}
	switch {
	case err != nil:
		bad.Add(1)
		s.count.odd("send: " + err.Error())
	case code == 200:
		ok.Add(1)
		s.mu.Lock()
		for _, q := range seqs {
			s.sent[q] = topic
		}
		s.mu.Unlock()
	default:
		bad.Add(1)
		if code >= 500 {
			s.count.send5xx.Add(1)
		}
		s.count.odd(fmt.Sprintf("send %d: %.120s", code, body))
	}
}

// receiveLoop receives soak-recv's messages from api: acks 85%, nacks 10%, lets 5% of the
// leases expire.
func (s *soak) receiveLoop(ctx context.Context, api string) {
	for ctx.Err() == nil {
		code, b, err := s.post(api+"/v1/consumers/soak-recv/receive", `{"max": 32, "wait_ms": 2000, "invisible_ms": 3000}`)
		if err != nil || code != 200 {
			if api == s.api1 || code != 0 && code != 404 && code != 503 {
				s.count.odd(fmt.Sprintf("receive %s %d: %v %.120s", api, code, err, b))
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		var r struct {
			Messages []struct {
				ReceiptHandle string `json:"receipt_handle"`
				Body          string `json:"body"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			s.count.odd("receive: undecodable")
			continue
		}
		var ack, nack []string
		for _, m := range r.Messages {
			s.count.recv.Add(1)
			switch x := rand.IntN(100); {
			case x < 85:
				ack = append(ack, m.ReceiptHandle)
				s.delivered("soak-recv", m.Body)
			case x < 95:
				nack = append(nack, m.ReceiptHandle)
			default:
				s.count.leaseLet.Add(1)
			}
		}
		if len(ack) > 0 {
			hs, _ := json.Marshal(ack)
			code, b, err := s.post(api+"/v1/consumers/soak-recv/ack", `{"receipt_handles": `+string(hs)+`}`)
			if err != nil || code != 200 {
				s.count.odd(fmt.Sprintf("ack %d: %v %.120s", code, err, b))
			} else {
				s.count.ack.Add(int64(len(ack)))
			}
		}
		if len(nack) > 0 {
			hs, _ := json.Marshal(nack)
			code, b, err := s.post(api+"/v1/consumers/soak-recv/nack", `{"receipt_handles": `+string(hs)+`, "delay_level": 1}`)
			if err != nil || code != 200 {
				s.count.odd(fmt.Sprintf("nack %d: %v %.120s", code, err, b))
			} else {
				s.count.nack.Add(int64(len(nack)))
			}
		}
	}
}

// reloadChurn rewrites gw1.toml every 15 s with 0-3 extra consumers of SoakC (receive and
// webhook; averagely, circle and the uploaded "soakavg" strategy) and sends SIGHUP.
func (s *soak) reloadChurn(ctx context.Context) {
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			// The churn ends with none of its consumers: idle is idle.
			if err := s.writeConfig(1, nil); err == nil {
				s.gw1.cmd.Process.Signal(syscall.SIGHUP)
			}
			return
		case <-time.After(15 * time.Second):
		}
		var extra []string
		for i := range n % 4 {
			delivery := `delivery = "receive"`
			if i%2 == 1 {
				delivery = fmt.Sprintf("delivery = \"webhook\"\nwebhook_url = \"%s/churn\"\nwebhook_timeout = \"1s\"", s.hookURL)
			}
			alloc := "averagely"
			switch (n + i) % 3 {
			case 0:
				alloc = "circle"
			case 1:
				alloc = "soakavg" // uploaded
			}
			extra = append(extra, fmt.Sprintf("[[consumer]]\ngroup = \"soak-file-%d-%d\"\nsubscriptions = [{ topic = \"SoakC\", expression = \"*\" }]\n%s\nallocate = %q\nrebalance_interval = \"3s\"\n\n", n%5, i, delivery, alloc))
		}
		if err := s.writeConfig(1, extra); err != nil {
			s.count.odd("reload: " + err.Error())
			continue
		}
		s.gw1.cmd.Process.Signal(syscall.SIGHUP)
		s.count.reloads.Add(1)
	}
}

// adminChurn adds a consumer through the admin API every 10 s and deletes the one before.
func (s *soak) adminChurn(ctx context.Context) {
	prev := ""
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			if prev != "" {
				s.adminExpect("DELETE", "/v1/consumers/"+prev, "", 200, 204)
			}
			return
		case <-time.After(10 * time.Second):
		}
		g := fmt.Sprintf("soak-admin-%d", n)
		body := fmt.Sprintf(`{"group": %q, "subscriptions": [{"topic": "SoakC", "expression": "T1"}], "rebalance_interval": "3s", "allocate": "soakavg"}`, g)
		if n%2 == 1 {
			body = fmt.Sprintf(`{"group": %q, "subscriptions": [{"topic": "SoakC", "expression": "*"}], "delivery": "webhook", "webhook_url": "%s/churn", "webhook_timeout": "1s"}`, g, s.hookURL)
		}
		s.adminExpect("PUT", "/v1/consumers/"+g, body, 201)
		if prev != "" {
			s.adminExpect("DELETE", "/v1/consumers/"+prev, "", 200, 204)
		}
		prev = g
	}
}

func (s *soak) adminExpect(method, path, body string, want ...int) (int, string) {
	code, b := s.admin(method, path, body)
	for _, w := range want {
		if code == w {
			s.count.adminOK.Add(1)
			return code, b
		}
	}
	s.count.adminErr.Add(1)
	s.count.odd(fmt.Sprintf("admin %s %s: %d %.160s", method, path, code, b))
	return code, b
}

// pluginChurn uploads, activates, rolls back and deletes plugins while sends run: a send
// hook (enricher, a new config each round), a consume hook that delivers everything
// (tagfilter "*") and an allocation strategy (averagely as "soakavg").
func (s *soak) pluginChurn(ctx context.Context) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(s.o.plugins, name))
		if err != nil {
			s.count.odd("plugin file: " + err.Error())
		}
		return b
	}
	enricher, tagfilter, averagely := read("enricher.wasm"), read("tagfilter.wasm"), read("averagely.wasm")
	upload := func(name, slot, config string, wasm []byte) {
		req, _ := http.NewRequest("PUT", s.admn+"/v1/plugins/"+name+"?slot="+slot+"&config="+url.QueryEscape(config), bytes.NewReader(wasm))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.client.Do(req)
		if err != nil {
			s.count.odd("upload: " + err.Error())
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 && resp.StatusCode != 200 {
			s.count.adminErr.Add(1)
			s.count.odd(fmt.Sprintf("upload %s: %d %.160s", name, resp.StatusCode, b))
			return
		}
		s.count.adminOK.Add(1)
	}
	upload("soakavg", "allocate", "{}", averagely)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(7 * time.Second):
		}
		switch n % 6 {
		case 0:
			upload("enrich", "send", fmt.Sprintf(`{"properties": {"x-soak": "v%d"}}`, n), enricher)
		case 1:
			upload("filter", "consume", `{"tags": ["*"]}`, tagfilter)
		case 2:
			upload("enrich", "send", fmt.Sprintf(`{"properties": {"x-soak": "w%d"}}`, n), enricher)
			s.adminExpect("POST", "/v1/plugins/enrich/activate", `{"version": 1}`, 200)
		case 3:
			s.adminExpect("POST", "/v1/plugins/enrich/rollback", ``, 200)
			upload("soakavg", "allocate", fmt.Sprintf(`{"n": %d}`, n), averagely)
		case 4:
			s.adminExpect("DELETE", "/v1/plugins/filter", ``, 200, 204)
		case 5:
			if n%12 == 5 {
				s.adminExpect("DELETE", "/v1/plugins/enrich", ``, 200, 204)
			}
			s.adminExpect("GET", "/v1/plugins", ``, 200)
		}
	}
}

// secondGateway runs a second gateway in soak-recv and soak-hook for half of every cycle,
// so that both groups rebalance twice a cycle.
func (s *soak) secondGateway(ctx context.Context) {
	for {
		g, err := start(s.o.bin, s.dir, "gw2")
		if err != nil {
			s.count.odd("gw2 start: " + err.Error())
		} else {
			s.count.gw2Starts.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(s.o.cycle / 2):
			}
			took, err := g.stop(30 * time.Second)
			if err != nil {
				s.count.odd("gw2 stop: " + err.Error())
			}
			if took > 5*time.Second {
				s.count.gw2Slow.Add(1)
				fmt.Printf("soak: gw2 took %s to stop\n", took.Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.cycle / 2):
		}
	}
}

// status reads GET /v1/status and /v1/consumers now and then, as a dashboard would.
func (s *soak) status(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(3 * time.Second):
		}
		s.adminExpect("GET", "/v1/status", "", 200)
		s.adminExpect("GET", "/v1/groups/soak-recv/progress", "", 200)
	}
}

type sample struct {
	at                        time.Duration
	rssKB, threads, fds       int64
	cpuTicks                  int64
	statusBytes, metricsBytes int
	logLines                  int
}

func (s *soak) sampleLoop(ctx context.Context, out chan<- sample) {
	t0 := s.t0
	var prev sample
	fmt.Printf("%8s %9s %7s %5s %6s %7s %8s %8s %6s %s\n", "t", "rss_MB", "cpu_%", "thr", "fds", "status", "metrics", "log+", "sent", "delivered recv/hook")
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
		pid := s.gw1.cmd.Process.Pid
		x := sample{at: time.Since(t0)}
		x.rssKB, x.threads = procStatus(pid)
		x.cpuTicks = procTicks(pid)
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			x.fds = int64(len(ents))
		}
		_, st := s.admin("GET", "/v1/status", "")
		x.statusBytes = len(st)
		_, m := s.admin("GET", "/metrics", "")
		x.metricsBytes = len(m)
		x.logLines = lineCount(s.gw1.stderr.Name())
		cpu := 0.0
		if prev.at > 0 {
			cpu = float64(x.cpuTicks-prev.cpuTicks) / 100 / (x.at - prev.at).Seconds() * 100
		}
		s.mu.Lock()
		sent, r, h := len(s.sent), len(s.got["soak-recv"]), len(s.got["soak-hook"])
		s.mu.Unlock()
		fmt.Printf("%8s %9.1f %7.1f %5d %6d %7d %8d %8d %6d %d/%d\n", x.at.Round(time.Second), float64(x.rssKB)/1024, cpu, x.threads, x.fds, x.statusBytes, x.metricsBytes, x.logLines-prev.logLines, sent, r, h)
		out <- x
		prev = x
	}
}

func procStatus(pid int) (rssKB, threads int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.ParseInt(f[1], 10, 64)
		case "Threads:":
			threads, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return
}

// procTicks is utime+stime of /proc/pid/stat, in clock ticks (1/100 s).
func procTicks(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func lineCount(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte{'\n'})
}

func (s *soak) report(all []sample, idleFrom time.Duration) {
	c := &s.count
	fmt.Printf("\nsends: %d ok, %d failed (%d 5xx); batches of 10: %d ok, %d failed\n", c.sendOK.Load(), c.sendErr.Load(), c.send5xx.Load(), c.batchOK.Load(), c.batchErr.Load())
	fmt.Printf("soak-recv: %d received, %d acked, %d nacked, %d leases let expire\n", c.recv.Load(), c.ack.Load(), c.nack.Load(), c.leaseLet.Load())
	fmt.Printf("webhook: %d POSTs, %d answered 500\n", c.hook.Load(), c.hook500.Load())
	fmt.Printf("churn: %d reloads, %d admin calls ok, %d refused; gw2 started %d times, %d slow stops\n", c.reloads.Load(), c.adminOK.Load(), c.adminErr.Load(), c.gw2Starts.Load(), c.gw2Slow.Load())
	for _, g := range []struct{ group, topic string }{{"soak-recv", "SoakA"}, {"soak-hook", "SoakB"}} {
		s.mu.Lock()
		sent, dup, extra := 0, 0, 0
		for q, t := range s.sent {
			if t != g.topic {
				continue
			}
			sent++
			if s.got[g.group][q] > 1 {
				dup++
			}
		}
		for q := range s.got[g.group] {
			if _, ok := s.sent[q]; !ok {
				extra++
			}
		}
		s.mu.Unlock()
		fmt.Printf("%s: %d sent to %s, %d never delivered, %d delivered more than once, %d delivered but not acknowledged as sent\n", g.group, sent, g.topic, s.missing(g.group, g.topic), dup, extra)
	}
	fmt.Println("unexpected answers and errors:")
	s.count.unexpected.Range(func(k, v any) bool {
		fmt.Printf("  %6d  %s\n", v.(*atomic.Int64).Load(), k)
		return true
	})
	if len(all) < 2 {
		return
	}
	var idle []sample
	for _, x := range all {
		if x.at >= idleFrom {
			idle = append(idle, x)
		}
	}
	if len(idle) >= 2 {
		a, b := idle[0], idle[len(idle)-1]
		fmt.Printf("idle: cpu %.2f%% of a core over %s, rss %.1f -> %.1f MB\n",
			float64(b.cpuTicks-a.cpuTicks)/100/(b.at-a.at).Seconds()*100, (b.at - a.at).Round(time.Second),
			float64(a.rssKB)/1024, float64(b.rssKB)/1024)
	}
}
