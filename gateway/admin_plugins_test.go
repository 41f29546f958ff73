package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/sdk/abi"
)

// enricherQuery is the query of an upload of the enricher setting x-version to v.
func enricherQuery(v string, extra ...string) string {
	q := url.Values{"config": {`{"properties": {"x-version": "` + v + `"}, "overwrite": true}`}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q.Encode()
}

// upload PUTs wasm as plugin name with the query, as the writer.
func upload(t testing.TB, g *Gateway, name, query string, wasm []byte) reply {
	t.Helper()
	return callAdmin(t, g, adminCall{method: "PUT", path: "/v1/plugins/" + name + "?" + query, token: tokWriter, body: wasm,
		contentType: "application/wasm"})
}

// pluginView decodes a plugin answer.
func pluginView(t testing.TB, r reply) pluginJSON {
	t.Helper()
	var v pluginJSON
	decodeJSON(t, r, &v)
	return v
}

func listPlugins(t testing.TB, g *Gateway) []pluginJSON {
	t.Helper()
	r := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader})
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	var l struct{ Plugins []pluginJSON }
	decodeJSON(t, r, &l)
	return l.Plugins
}

// produceVersion sends a message and returns the x-version it was stored with.
func produceVersion(t testing.TB, g *Gateway, broker string) string {
	t.Helper()
	r := post(t, g, "/v1/topics/PluginTopic/messages", map[string]any{"body": "m"})
	if r.status != http.StatusOK {
		t.Fatalf("produce: %d %s", r.status, r.raw)
	}
	return stored(t, g, broker, r).Properties.Get("x-version")
}

// TestUploadSwapsUnderLoad uploads the enricher, then a second version of it, while 16
// goroutines produce through the HTTP API (policy fail: a call that reached a closed or
// half-swapped plugin would fail its send): no send fails, and the messages sent after
// each upload carry its header.
func TestUploadSwapsUnderLoad(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	enricher := plugintest.Build(t, "plugins/enricher")
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "" {
		t.Fatalf("x-version %q before any plugin", v)
	}

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	url := "http://" + g.Addr() + "/v1/topics/PluginTopic/messages"
	type sent struct {
		want string // the version of every send begun after the upload returned
		r    reply
	}
	var (
		want    atomic.Pointer[string] // nil while an upload runs
		settled atomic.Int64           // sends begun and ended with want set
		total   atomic.Int64
		failed  atomic.Value
		stop    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		checks  []sent
	)
	none := ""
	want.Store(&none)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				w := want.Load()
				r := postWith(t, hc, url, map[string]any{"body": "load"})
				if r.status != http.StatusOK {
					failed.Store(fmt.Sprintf("%d %s", r.status, r.raw))
					return
				}
				total.Add(1)
				if w != nil && want.Load() == w {
					settled.Add(1)
					mu.Lock()
					if len(checks) < 200 {
						checks = append(checks, sent{*w, r})
					}
					mu.Unlock()
				}
			}
		}()
	}
	steady := func(what string) {
		t.Helper()
		n := settled.Load() + 200
		waitFor(t, 30*time.Second, what, func() bool { return settled.Load() >= n || failed.Load() != nil })
	}
	steady("sends before the upload")
	for _, v := range []string{"1", "2"} {
		want.Store(nil)
		during := total.Load()
		q := enricherQuery(v, "slot", "send", "policy", "fail")
		if r := upload(t, g, "enrich", q, enricher); r.status != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", v, r.status, r.raw)
		}
		t.Logf("version %s: %d sends while it was uploaded", v, total.Load()-during)
		want.Store(&v)
		steady("sends after upload " + v)
	}
	stop.Store(true)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("a send failed: %v", f)
	}
	for _, c := range checks {
		if got := stored(t, g, dc.BrokerAddr(), c.r).Properties.Get("x-version"); got != c.want {
			t.Fatalf("a message sent after upload %q has x-version %q", c.want, got)
		}
	}
	l := listPlugins(t, g)
	if len(l) != 1 || l[0].Name != "enrich" || l[0].Active.Version != 2 || l[0].Status.Calls == 0 || l[0].Status.Failures != 0 {
		t.Fatalf("list %+v", l)
	}
}

// TestUploadRefusesBadModules: each bad upload is refused with its reason, and changes
// nothing: neither what runs nor the store.
func TestUploadRefusesBadModules(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	cfg := adminConfig(dc.NameServerAddr(), dir)
	cfg.Plugins.MaxModuleSize = 8 << 20
	g := startGateway(t, cfg)
	enricher := plugintest.Build(t, "plugins/enricher")
	if r := upload(t, g, "enrich", enricherQuery("1", "slot", "send"), enricher); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	list := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}).raw
	files := storeFiles(t, dir)

	badAlloc := plugintest.Build(t, "host/testdata/hostile/badalloc")
	send := func(name, query string, wasm []byte) adminCall {
		return adminCall{method: "PUT", path: "/v1/plugins/" + name + "?" + query, token: tokWriter, body: wasm}
	}
	tests := []struct {
		name   string
		call   adminCall
		status int
		code   string
		reason string
	}{
		{"over the size limit", send("big", "slot=send", append(bytes.Clone(wasmMagic), make([]byte, 8<<20)...)),
			413, codeTooLarge, "the module exceeds 8388608 bytes"},
		{"empty", send("empty", "slot=send", nil), 400, codeInvalidModule, "the body is empty"},
		{"not WebAssembly", send("script", "slot=send", []byte("#!/bin/sh\nrm -rf /\n")), 400, codeInvalidModule, "not a WebAssembly module"},
		{"truncated", send("cut", "slot=send", enricher[:len(enricher)/2]), 400, codeInvalidModule, "cannot decode the module"},
		{"missing export", send("nokind", "slot=send", rawModule{version: 1, kind: abi.KindSend, omit: abi.ExportKind}.bytes()),
			400, codeMissingExport, `no export "mqgate_kind"`},
		{"missing entry point", send("noentry", "slot=send", rawModule{version: 1, kind: abi.KindSend, omit: "mqgate_before_send"}.bytes()),
			400, codeMissingExport, `kind send needs it: no export "mqgate_before_send"`},
		{"filesystem import", send("fs", "slot=send", rawModule{version: 1, kind: abi.KindSend, imports: []string{"path_open"}}.bytes()),
			400, codeForbiddenImport, "imports wasi_snapshot_preview1.path_open, which ABI v1 does not grant"},
		{"ABI version 2", send("v2", "slot=send", rawModule{version: 2, kind: abi.KindSend}.bytes()),
			400, codeABIVersion, "mqgate_abi_version returned 2"},
		{"unknown kind", send("k9", "slot=send", rawModule{version: 1, kind: 9}.bytes()),
			400, codeUnknownKind, "mqgate_kind returned 9"},
		{"an allocation strategy in the send slot", send("alloc", "slot=send", plugintest.Build(t, "plugins/averagely")),
			400, codeWrongKind, "module is a plugin of kind allocate, the slot takes kind send"},
		{"another slot for an existing plugin", send("enrich", "slot=rpc", enricher),
			409, codeConflict, `plugin "enrich" is in the send slot`},
		{"a configuration the module refuses", send("enrich", "config=%7B%7D", enricher),
			422, codeInitFailed, "no properties"},
		{"a strategy answering an index out of range", send("strategy", "slot=allocate&config=range", badAlloc),
			422, codeTrialFailed, "queue index 8 out of range: 8 queues"},
		{"a strategy answering an index twice", send("strategy", "slot=allocate&config=dup&policy=fail", badAlloc),
			422, codeTrialFailed, "queue index 0 given twice"},
		{"no slot for a new plugin", send("new", "", enricher), 400, codeBadRequest, "slot is required"},
		{"an unknown slot", send("new", "slot=sned", enricher), 400, codeBadRequest, `slot "sned"`},
		{"an unknown policy", send("new", "slot=send&policy=retry", enricher), 400, codeBadRequest, `unknown plugin policy "retry"`},
		{"a memory limit under a page", send("new", "slot=send&memory_limit=100", enricher), 400, codeBadRequest, "memory_limit: 100 is under one 64 KiB page"},
		{"a stack limit past the host's", send("new", "slot=send&stack_limit=67108864", enricher), 400, codeBadRequest, "stack_limit: 67108864 is over the 32 MiB"},
		{"a bad deadline", send("new", "slot=send&deadline=soon", enricher), 400, codeBadRequest, `deadline: "soon"`},
		{"an unknown parameter", send("new", "slot=send&polcy=fail", enricher), 400, codeBadRequest, `unknown query parameter "polcy"`},
		{"a name that is no name", send("a%20b", "slot=send", enricher), 400, codeBadRequest, `character ' '`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callAdmin(t, g, tt.call)
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("error"), tt.reason) {
				t.Fatalf("%d %s\nwant %d %s naming %q", r.status, r.raw, tt.status, tt.code, tt.reason)
			}
			t.Logf("user sees: %d %s", r.status, r.str("error"))
			if got := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}).raw; got != list {
				t.Fatalf("the list changed:\n%s\nwas\n%s", got, list)
			}
			if got := storeFiles(t, dir); len(got) != len(files) || got[manifestName] != files[manifestName] {
				t.Fatalf("the store changed: %v, was %v", keys(got), keys(files))
			}
		})
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "1" {
		t.Fatalf("x-version %q after the refusals", v)
	}
}

// TestPluginLifecycle: versions, rollback, activation by number and by module digest,
// resume, delete, and the change notifications a consumer rebalances on.
func TestPluginLifecycle(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	var changes atomic.Int64
	g.plugins.onChange(func(string, host.Kind) { changes.Add(1) })
	enricher := plugintest.Build(t, "plugins/enricher")
	broker := dc.BrokerAddr()
	admin := func(method, path string, body string) reply {
		return callAdmin(t, g, adminCall{method: method, path: path, token: tokWriter, body: []byte(body)})
	}

	v1 := pluginView(t, upload(t, g, "enrich", enricherQuery("1", "slot", "send"), enricher))
	v2 := pluginView(t, upload(t, g, "enrich", enricherQuery("2", "deadline", "20ms"), enricher))
	if v1.Active.Version != 1 || v2.Active.Version != 2 || v2.Previous != 1 || len(v2.Versions) != 2 ||
		v2.Active.Settings.Deadline != jsonDuration(20*time.Millisecond) || v2.Slot != "send" {
		t.Fatalf("after two uploads: %+v", v2)
	}
	if v := produceVersion(t, g, broker); v != "2" {
		t.Fatalf("x-version %q, want 2", v)
	}

	r := admin("POST", "/v1/plugins/enrich/rollback", "")
	if v := pluginView(t, r); r.status != http.StatusOK || v.Active.Version != 1 || v.Previous != 2 {
		t.Fatalf("rollback: %d %s", r.status, r.raw)
	}
	if v := produceVersion(t, g, broker); v != "1" {
		t.Fatalf("after the rollback x-version %q, want 1", v)
	}
	r = admin("POST", "/v1/plugins/enrich/activate", `{"version": 2}`)
	if v := pluginView(t, r); r.status != http.StatusOK || v.Active.Version != 2 {
		t.Fatalf("activate 2: %d %s", r.status, r.raw)
	}
	if v := produceVersion(t, g, broker); v != "2" {
		t.Fatalf("after activating 2 x-version %q", v)
	}
	// Both versions run one module: its digest names the newest, active already.
	r = admin("POST", "/v1/plugins/enrich/activate", `{"version": "`+v2.Active.SHA256[:12]+`"}`)
	if v := pluginView(t, r); r.status != http.StatusOK || v.Active.Version != 2 {
		t.Fatalf("activate by digest: %d %s", r.status, r.raw)
	}
	for _, bad := range []struct {
		body   string
		status int
	}{{`{"version": 7}`, 404}, {`{"version": "ffffffffff"}`, 404}, {`{"version": "abc"}`, 400}, {`{}`, 400}, {`{"vers": 1}`, 400}} {
		if r := admin("POST", "/v1/plugins/enrich/activate", bad.body); r.status != bad.status {
			t.Errorf("activate %s: %d %s, want %d", bad.body, r.status, r.raw, bad.status)
		}
	}
	if r := admin("POST", "/v1/plugins/enrich/resume", ""); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	// The module and settings of version 1 again: no new version, 1 active again.
	r = upload(t, g, "enrich", enricherQuery("1", "deadline", "0s"), enricher)
	if v := pluginView(t, r); r.status != http.StatusOK || v.Active.Version != 1 || len(v.Versions) != 2 {
		t.Fatalf("the same upload again: %d %s", r.status, r.raw)
	}

	// A strategy: uploaded, looked up by name by a consumer, deleted (the fallback answers).
	strategy := g.plugins.allocationStrategy("ring", nil)
	if r := upload(t, g, "ring", "slot=allocate", plugintest.Build(t, "plugins/circle")); r.status != http.StatusCreated {
		t.Fatalf("strategy upload: %d %s", r.status, r.raw)
	}
	clients := []string{"c1", "c2"}
	qs := []instance.MessageQueue{{Topic: "T", BrokerName: "a", QueueID: 0}, {Topic: "T", BrokerName: "a", QueueID: 1},
		{Topic: "T", BrokerName: "a", QueueID: 2}, {Topic: "T", BrokerName: "a", QueueID: 3}}
	got, err := strategy.Allocate("g", "c1", clients, qs)
	if err != nil || fmt.Sprint(got) != "[0 2]" { // by circle; averagely would give [0 1]
		t.Fatalf("the uploaded strategy answered %v %v", got, err)
	}
	if st := pluginView(t, admin("GET", "/v1/plugins/ring", "")).Status; st.Calls < 4 { // the trial's 3 and ours
		t.Errorf("strategy status %+v", st)
	}
	if r := admin("DELETE", "/v1/plugins/ring", ""); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if got, _ := strategy.Allocate("g", "c1", clients, qs); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("after the delete the strategy answered %v, want the fallback's [0 1]", got)
	}

	if r := admin("DELETE", "/v1/plugins/enrich", ""); r.status != http.StatusOK || pluginView(t, r).Name != "enrich" {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if v := produceVersion(t, g, broker); v != "" {
		t.Fatalf("after the delete x-version %q", v)
	}
	for _, p := range []string{"/v1/plugins/enrich", "/v1/plugins/enrich/rollback"} {
		method := "GET"
		if strings.HasSuffix(p, "rollback") {
			method = "POST"
		}
		if r := admin(method, p, ""); r.status != http.StatusNotFound || r.str("code") != codeNotFound {
			t.Errorf("%s %s after the delete: %d %s", method, p, r.status, r.raw)
		}
	}
	if l := listPlugins(t, g); len(l) != 0 {
		t.Fatalf("list after the deletes: %+v", l)
	}
	// uploads 2 + rollback + activate + same upload + strategy upload + 2 deletes.
	if n := changes.Load(); n != 8 {
		t.Errorf("%d changes announced, want 8", n)
	}
}

// TestMultipartUpload: the module and its metadata as multipart/form-data, the
// configuration a JSON object.
func TestMultipartUpload(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("metadata", `{"slot": "send", "policy": "fail", "deadline": "15ms", "config": {"properties": {"x-version": "mp"}}}`)
	fw, _ := mw.CreateFormFile("module", "enricher.wasm")
	fw.Write(plugintest.Build(t, "plugins/enricher"))
	mw.Close()
	r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/plugins/mp", token: tokWriter, body: body.Bytes(), contentType: mw.FormDataContentType()})
	v := pluginView(t, r)
	if r.status != http.StatusCreated || v.Active.Settings.Policy != "fail" || v.Active.Settings.Deadline != jsonDuration(15*time.Millisecond) ||
		v.Active.Settings.Config != `{"properties":{"x-version":"mp"}}` || v.Status.Policy != "fail" {
		t.Fatalf("multipart upload: %d %s", r.status, r.raw)
	}
	if got := produceVersion(t, g, dc.BrokerAddr()); got != "mp" {
		t.Fatalf("x-version %q", got)
	}
}

// TestRestartRestoresActiveVersions: a new gateway on the same plugin store runs the
// versions active when the last one stopped, in the same order.
func TestRestartRestoresActiveVersions(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	cfg := adminConfig(dc.NameServerAddr(), dir)
	enricher := plugintest.Build(t, "plugins/enricher")
	circle := plugintest.Build(t, "plugins/circle")
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	upload(t, g, "enrich", enricherQuery("1", "slot", "send"), enricher)
	upload(t, g, "enrich", enricherQuery("2"), enricher)
	if r := callAdmin(t, g, adminCall{method: "POST", path: "/v1/plugins/enrich/rollback", token: tokWriter}); r.status != http.StatusOK {
		t.Fatalf("rollback: %d %s", r.status, r.raw)
	}
	upload(t, g, "ring", "slot=allocate", circle)
	want := listPlugins(t, g)
	if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}

	// The runtime, its plugins and the admin server are gone. (The dev cluster keeps
	// what it started for the gateway: a goroutine count would see it.)
	noGoroutinesOf(t, "mqgate/mqgate/host.", "tetratelabs/wazero", "net/http.(*Server).Serve", "net/http.(*conn).serve")
	g2, err := New(adminConfig(dc.NameServerAddr(), dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g2.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
	}()
	got := listPlugins(t, g2)
	if len(got) != 2 || got[0].Name != "enrich" || got[1].Name != "ring" {
		t.Fatalf("after the restart: %+v", got)
	}
	for i := range got {
		if got[i].Active.Version != want[i].Active.Version || got[i].Previous != want[i].Previous || len(got[i].Versions) != len(want[i].Versions) {
			t.Errorf("%s: active %d previous %d, want %d and %d", got[i].Name, got[i].Active.Version, got[i].Previous, want[i].Active.Version, want[i].Previous)
		}
	}
	if v := produceVersion(t, g2, dc.BrokerAddr()); v != "1" {
		t.Fatalf("after the restart x-version %q, want 1", v)
	}
}

// TestCrashBetweenStoreAndManifest: the manifest's write fails after the new module is
// stored (as a crash would leave it): the upload is refused, the old version keeps
// serving, and a restart finds the previous state and removes the leftovers.
func TestCrashBetweenStoreAndManifest(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	g, err := New(adminConfig(dc.NameServerAddr(), dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	upload(t, g, "enrich", enricherQuery("1", "slot", "send"), plugintest.Build(t, "plugins/enricher"))
	list := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}).raw
	files := storeFiles(t, dir)

	crash := errors.New("power cut")
	g.plugins.mu.Lock()
	g.plugins.store.failpoint = func(stage string) error {
		if stage == "manifest" {
			return crash
		}
		return nil
	}
	g.plugins.mu.Unlock()
	// Another module (the hostile send hook, harmless for these bodies) and settings.
	r := upload(t, g, "enrich", "deadline=30ms", plugintest.Build(t, "host/testdata/hostile/behaviors"))
	if r.status != http.StatusInternalServerError || !strings.Contains(r.str("error"), "nothing changed") || !strings.Contains(r.str("error"), "power cut") {
		t.Fatalf("upload during the crash: %d %s", r.status, r.raw)
	}
	if got := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}).raw; got != list {
		t.Fatalf("the list changed:\n%s\nwas\n%s", got, list)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "1" {
		t.Fatalf("x-version %q after the failed upload", v)
	}
	if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	left := storeFiles(t, dir)
	if len(left) != len(files)+2 || left[manifestName] != files[manifestName] {
		t.Fatalf("on disk after the crash: %v (before: %v)", keys(left), keys(files))
	}

	g2 := startGateway(t, adminConfig(dc.NameServerAddr(), dir))
	if got := storeFiles(t, dir); len(got) != len(files) || got[manifestName] != files[manifestName] {
		t.Fatalf("after the restart: %v, want %v", keys(got), keys(files))
	}
	l := listPlugins(t, g2)
	if len(l) != 1 || l[0].Active.Version != 1 || len(l[0].Versions) != 1 {
		t.Fatalf("after the restart: %+v", l)
	}
	if v := produceVersion(t, g2, dc.BrokerAddr()); v != "1" {
		t.Fatalf("after the restart x-version %q", v)
	}
}

// TestManifestRenamedButDirectoryNotSynced: the manifest's rename is made, then the
// directory's fsync fails. The next start reads the new manifest, so the change is made:
// the API answers it as made (and logs the failed fsync as an error), a fresh load of the
// store and a restart find what it answered, and the next change builds on it instead of
// undoing it. It used to answer 500 "nothing changed" with the new manifest on disk, and
// the next change, made from the manifest in memory, dropped the version on disk.
func TestManifestRenamedButDirectoryNotSynced(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	var logs syncBuffer
	cfg := adminConfig(dc.NameServerAddr(), dir)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	g, stop := runGateway(t, cfg)
	defer func() { stop() }()
	restart := func() {
		t.Helper()
		stop()
		stop = func() {}
		g, stop = runGateway(t, cfg)
	}
	diskFault := errors.New("input/output error")
	failDirSync := func(on bool) {
		g.plugins.mu.Lock() // the manifest is written under it
		defer g.plugins.mu.Unlock()
		g.plugins.store.failpoint = nil
		if on {
			g.plugins.store.failpoint = func(stage string) error {
				if stage == "manifest dirsync" {
					return diskFault
				}
				return nil
			}
		}
	}
	// onDisk is the plugin as the next start reads it from the store.
	onDisk := func() *storedPlugin {
		t.Helper()
		s := &pluginStore{dir: dir}
		if err := s.readManifest(); err != nil {
			t.Fatal(err)
		}
		return s.man.Plugins["enrich"]
	}
	enricher := plugintest.Build(t, "plugins/enricher")
	if r := upload(t, g, "enrich", enricherQuery("1", "slot", "send"), enricher); r.status != http.StatusCreated {
		t.Fatalf("first upload: %d %s", r.status, r.raw)
	}

	// made checks that a change answered status with active and previous versions is
	// what the next start reads, and what the gateway serves now.
	made := func(what string, r reply, status, active, previous int) {
		t.Helper()
		if v := pluginView(t, r); r.status != status || v.Active.Version != active || v.Previous != previous {
			t.Fatalf("%s with the directory's fsync failing: %d %s", what, r.status, r.raw)
		}
		if sp := onDisk(); sp == nil || sp.Active != active || sp.Previous != previous {
			t.Fatalf("%s: answered version %d active, yet the next start reads %+v", what, active, sp)
		}
		if v := produceVersion(t, g, dc.BrokerAddr()); v != strconv.Itoa(active) {
			t.Fatalf("x-version %q after the %s", v, what)
		}
	}

	failDirSync(true)
	r := upload(t, g, "enrich", enricherQuery("2"), enricher)
	made("upload of 2", r, http.StatusCreated, 2, 1)
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, dir) || !strings.Contains(l, diskFault.Error()) {
		t.Fatalf("the failed fsync is not logged as an error naming the directory and the error:\n%s", l)
	}
	r = callAdmin(t, g, adminCall{method: "POST", path: "/v1/plugins/enrich/rollback", token: tokWriter})
	made("rollback", r, http.StatusOK, 1, 2)

	failDirSync(false)
	r = upload(t, g, "enrich", enricherQuery("3"), enricher)
	if v := pluginView(t, r); r.status != http.StatusCreated || v.Active.Version != 3 || v.Previous != 1 || len(v.Versions) != 3 {
		t.Fatalf("the next upload: %d %s", r.status, r.raw)
	}
	if sp := onDisk(); sp == nil || sp.Active != 3 || sp.Previous != 1 || len(sp.Versions) != 3 {
		t.Fatalf("the next upload undid the ones before it on disk: %+v", sp)
	}
	restart()
	if l := listPlugins(t, g); len(l) != 1 || l[0].Active.Version != 3 || l[0].Previous != 1 || len(l[0].Versions) != 3 {
		t.Fatalf("after a restart: %+v", l)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "3" {
		t.Fatalf("after a restart x-version %q", v)
	}

	failDirSync(true)
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/enrich", token: tokWriter}); r.status != http.StatusOK {
		t.Fatalf("delete with the directory's fsync failing: %d %s", r.status, r.raw)
	}
	if sp := onDisk(); sp != nil {
		t.Fatalf("answered deleted, yet the next start reads %+v", sp)
	}
	if l := listPlugins(t, g); len(l) != 0 {
		t.Fatalf("after the delete: %+v", l)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "" {
		t.Fatalf("x-version %q after the delete", v)
	}
	// A power loss may yet bring back the manifest before the delete: the module it names
	// stays until a manifest without it is synced (here the next start's removal).
	module := filepath.Join(dir, modulesDir, moduleDigest(enricher)+".wasm")
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("the deleted plugin's module went before a manifest without it was synced: %v", err)
	}
	restart()
	if l := listPlugins(t, g); len(l) != 0 {
		t.Fatalf("after a restart: %+v", l)
	}
	if _, err := os.Stat(module); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the deleted plugin's module after a restart: %v", err)
	}
}

// TestModuleRenamedButDirectoryNotSynced: a new module's rename is made, then the
// modules directory's fsync fails. The upload is refused and nothing changes: a manifest
// naming the module could outlive it in a power loss. A retry while the fsync still fails
// is refused too, though the module's file is there from the first try; it used to be
// taken as stored and named by the manifest.
func TestModuleRenamedButDirectoryNotSynced(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	g := startGateway(t, adminConfig(dc.NameServerAddr(), dir))
	upload(t, g, "enrich", enricherQuery("1", "slot", "send"), plugintest.Build(t, "plugins/enricher"))
	list := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}).raw
	man := storeFiles(t, dir)[manifestName]
	setFailpoint := func(f func(string) error) {
		g.plugins.mu.Lock()
		g.plugins.store.failpoint = f
		g.plugins.mu.Unlock()
	}
	setFailpoint(func(stage string) error {
		if stage == "module dirsync" {
			return errors.New("input/output error")
		}
		return nil
	})
	hostile := plugintest.Build(t, "host/testdata/hostile/behaviors")
	for try := 1; try <= 2; try++ {
		r := upload(t, g, "enrich", "deadline=30ms", hostile)
		if r.status != http.StatusInternalServerError || !strings.Contains(r.str("error"), "nothing changed") ||
			!strings.Contains(r.str("error"), "input/output error") {
			t.Fatalf("upload %d with the modules' fsync failing: %d %s", try, r.status, r.raw)
		}
		if got := callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}).raw; got != list {
			t.Fatalf("upload %d: the list changed:\n%s\nwas\n%s", try, got, list)
		}
		if got := storeFiles(t, dir)[manifestName]; got != man {
			t.Fatalf("upload %d: the manifest changed:\n%s", try, got)
		}
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "1" {
		t.Fatalf("x-version %q after the refused uploads", v)
	}
	setFailpoint(nil)
	if r := upload(t, g, "enrich", "deadline=30ms", hostile); r.status != http.StatusCreated || pluginView(t, r).Active.Version != 2 {
		t.Fatalf("upload once the fsync works: %d %s", r.status, r.raw)
	}
}

// TestFilePluginThenUpload: a [[plugin]] of the file runs until an upload of its name,
// which records the file's module as the version before it; the store wins after that.
func TestFilePluginThenUpload(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "enricher.wasm")
	enricher := plugintest.Build(t, "plugins/enricher")
	if err := os.WriteFile(file, enricher, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := adminConfig(dc.NameServerAddr(), dir)
	cfg.Plugin = []PluginConfig{{Name: "enrich", File: file, Slot: "send", Policy: "fail",
		Config: map[string]any{"properties": map[string]any{"x-version": "file"}, "overwrite": true}}}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	l := listPlugins(t, g)
	if len(l) != 1 || l[0].Source != "file" || l[0].Active.Version != 0 || l[0].Status.Policy != "fail" || !strings.Contains(l[0].File, file) {
		t.Fatalf("from the file: %+v", l)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "file" {
		t.Fatalf("x-version %q", v)
	}
	r := upload(t, g, "enrich", enricherQuery("up"), enricher)
	v := pluginView(t, r)
	if r.status != http.StatusCreated || v.Source != "store" || v.Active.Version != 2 || v.Previous != 1 ||
		!strings.Contains(v.Versions[1].Source, file) || v.Active.Settings.Policy != "fail" {
		t.Fatalf("upload over the file's plugin: %d %s", r.status, r.raw)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "up" {
		t.Fatalf("x-version %q", v)
	}
	if r := callAdmin(t, g, adminCall{method: "POST", path: "/v1/plugins/enrich/rollback", token: tokWriter}); r.status != http.StatusOK {
		t.Fatalf("rollback: %d %s", r.status, r.raw)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "file" {
		t.Fatalf("after the rollback to the file's version x-version %q", v)
	}
	if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	// The store wins over the file: a restart runs the stored version 1 (the file's).
	g2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	l = listPlugins(t, g2)
	if len(l) != 1 || l[0].Source != "store" || l[0].Active.Version != 1 || l[0].File == "" {
		t.Fatalf("after the restart: %+v", l)
	}
	// A second gateway cannot use the store while g2 does.
	other := cfg
	other.Plugin = nil
	g3, _ := New(other)
	if err := g3.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "in use by another gateway") {
		t.Fatalf("a second gateway on a store in use: %v", err)
	}
	g3.Shutdown(context.Background())
	if err := g2.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	// A [[plugin]] in another slot than the store's plugin of its name is refused.
	bad := cfg
	bad.Plugin = []PluginConfig{{Name: "enrich", File: file, Slot: "rpc"}}
	g4, _ := New(bad)
	err = g4.Start(context.Background())
	var pe *PluginError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "holds it as a send plugin") {
		t.Fatalf("a file's slot against the store's: %v", err)
	}
	g4.Shutdown(context.Background())
}

// noGoroutinesOf waits until no goroutine's stack mentions any of the patterns.
func noGoroutinesOf(t *testing.T, patterns ...string) {
	t.Helper()
	var stacks string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		buf := make([]byte, 4<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		found := false
		for _, p := range patterns {
			found = found || strings.Contains(stacks, p)
		}
		if !found {
			return
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	t.Fatalf("goroutines left of %v:\n%s", patterns, stacks)
}

// An upload during reloads reads the module size limit without a data race: a reload
// replaces the registry's configuration, even one that changes no [[plugin]]. The race
// detector (go test -race) is what fails this test.
func TestUploadDuringReloadsIsNoDataRace(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{DelayFactor: 0.001})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	cfg := g.Config()
	ctx := ctxFor(t, 30*time.Second)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := g.Reload(ctx, cfg); err != nil {
				t.Error(err)
				return
			}
		}
	})
	h := g.AdminHandler()
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		r := serveAdmin(t, h, adminCall{method: "PUT", path: "/v1/plugins/p1?slot=send", token: tokWriter, body: []byte("not wasm")})
		if r.status != http.StatusBadRequest {
			t.Fatalf("upload: %d %s", r.status, r.raw)
		}
	}
	close(stop)
	wg.Wait()
}

// The version an upload replaces is closed once the calls holding it end, even when the
// upload's client went away after the change was made: a send in flight on the old
// version still runs it.
func TestUploadWhoseClientLeavesStillDrainsTheOldVersion(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{DelayFactor: 0.001})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	enricher := plugintest.Build(t, "plugins/enricher")
	if r := upload(t, g, "enrich", enricherQuery("1", "slot", "send"), enricher); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	held := g.plugins.src.acquire() // a send in flight on version 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := adminCall{method: "PUT", path: "/v1/plugins/enrich?" + enricherQuery("2"), token: tokWriter, body: enricher,
		contentType: "application/wasm"}.request().WithContext(ctx)
	done := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		g.AdminHandler().ServeHTTP(rec, req)
		done <- rec.Code
	}()
	waitUntil(t, 10*time.Second, "version 2 in effect", func() bool { return g.plugins.src.set.Load() != held })
	cancel() // the client leaves while the upload waits for the calls on version 1
	time.Sleep(100 * time.Millisecond)

	evs := events("m")
	for _, e := range held.send {
		if err := e.send.BeforeSend(context.Background(), evs); err != nil {
			t.Errorf("the send in flight on version 1: %v", err)
		}
	}
	if v := evs[0].Message.Properties.Get("x-version"); v != "1" {
		t.Errorf("the send in flight got x-version %q, want 1: version 1 was closed under it", v)
	}
	held.release()
	if code := <-done; code != http.StatusCreated {
		t.Errorf("upload: %d", code)
	}
}

// TestUploadOfTheActiveModuleChangesNothing: a deploy pipeline uploading again the module
// and settings running already gets 200 and changes nothing: no instance reloaded (its
// call counts kept), no change announced (consumers of a strategy would rebalance).
func TestUploadOfTheActiveModuleChangesNothing(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	var changes atomic.Int64
	g.plugins.onChange(func(string, host.Kind) { changes.Add(1) })
	enricher := plugintest.Build(t, "plugins/enricher")
	if r := upload(t, g, "enrich", enricherQuery("1", "slot", "send"), enricher); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	if v := produceVersion(t, g, dc.BrokerAddr()); v != "1" {
		t.Fatalf("x-version %q", v)
	}
	get := func() pluginJSON {
		return pluginView(t, callAdmin(t, g, adminCall{method: "GET", path: "/v1/plugins/enrich", token: tokReader}))
	}
	before, announced := get(), changes.Load()
	r := upload(t, g, "enrich", enricherQuery("1"), enricher)
	after := pluginView(t, r)
	if r.status != http.StatusOK || after.Active.Version != 1 || len(after.Versions) != 1 {
		t.Fatalf("the same upload again: %d %s", r.status, r.raw)
	}
	if got := get(); got.Status.Calls != before.Status.Calls || before.Status.Calls == 0 {
		t.Errorf("calls %d after the same upload, %d before: the plugin was loaded again", got.Status.Calls, before.Status.Calls)
	}
	if n := changes.Load(); n != announced {
		t.Errorf("%d changes announced for an upload that changed nothing", n-announced)
	}
	// Other settings with the same module are a change.
	if r := upload(t, g, "enrich", enricherQuery("1", "deadline", "20ms"), enricher); r.status != http.StatusCreated ||
		pluginView(t, r).Active.Version != 2 {
		t.Fatalf("new settings: %d %s", r.status, r.raw)
	}
}
