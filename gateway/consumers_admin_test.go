package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

const tokConsumers = "consumers-token-0123456789"

// consumersAdminConfig is adminConfig with a token of scope consumers:write, tokConsumers.
func consumersAdminConfig(nameServer, dir string) Config {
	cfg := adminConfig(nameServer, dir)
	cfg.Admin.Tokens = append(cfg.Admin.Tokens, AdminToken{Name: "consumers", Token: tokConsumers, Scopes: []string{ScopeConsumersWrite}})
	return cfg
}

func TestAdminConsumers(t *testing.T) {
	dc := consumeCluster(t)
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	g := startGateway(t, cfg)
	const topic = "AdminConsTopic"
	createTopic(t, g, dc.BrokerAddr(), topic, 2)

	body := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "consume_from": "first",
		"rebalance_interval": "300ms"}
	steps := []struct {
		name   string
		call   adminCall
		status int
		code   string
		msg    string
	}{
		{"a status token cannot add", adminCall{method: "PUT", path: "/v1/consumers/app_g", token: tokStatus, body: body(good)}, 403, codeForbidden, "consumers:write"},
		{"a plugins token cannot add", adminCall{method: "PUT", path: "/v1/consumers/app_g", token: tokWriter, body: body(good)}, 403, codeForbidden, "consumers:write"},
		{"created", adminCall{method: "PUT", path: "/v1/consumers/app_g", token: tokConsumers, body: body(good)}, 201, "", ""},
		{"exists", adminCall{method: "PUT", path: "/v1/consumers/app_g", token: tokConsumers, body: body(good)}, 409, codeConflict, "exists"},
		{"invalid, naming the key", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "delivery": "webhook"})}, 400, codeBadRequest, "webhook_url: empty"},
		{"too many virtual nodes, naming the bound", adminCall{method: "PUT", path: "/v1/consumers/ring_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "allocate": "consistenthash",
				"allocate_virtual_nodes": int64(1) << 40})}, 400, codeBadRequest, "allocate_virtual_nodes: 1099511627776 is out of 1..1000"},
		{"a header value with a newline, naming the header", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "delivery": "webhook",
				"webhook_url": "http://127.0.0.1:1/x", "webhook_headers": map[string]string{"Authorization": "Bearer abc\r\n"}})},
			400, codeBadRequest, `webhook_headers: \"Authorization\": the value has a control character`},
		{"an unknown key", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "webhok_url": "x"})}, 400, codeBadRequest, "webhok_url"},
		// The keys of the JSON, as the file spells them, whatever the field's type.
		{"a duration as a number, naming the key", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "webhook_timeout": 5})}, 400, codeBadRequest,
			`webhook_timeout: 5 is not a duration such as \"10s\"`},
		{"a duration that does not parse, naming the key", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "suspend": "5 s"})}, 400, codeBadRequest,
			`suspend: \"5 s\" is not a duration such as \"10s\"`},
		{"a wrong type, naming the key as the file does", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "pull_batch_size": "8"})}, 400, codeBadRequest,
			`field \"pull_batch_size\": JSON string does not fit an integer`},
		{"a wrong type in a subscription, naming the key as the file does", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]any{{"topic": 5}}})}, 400, codeBadRequest,
			`field \"subscriptions.topic\": JSON number does not fit a string`},
		{"a group unlike the path's", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"group": "other", "subscriptions": []map[string]string{{"topic": topic}}})}, 400, codeBadRequest, "the path names"},
		{"listed", adminCall{method: "GET", path: "/v1/consumers", token: tokStatus}, 200, "", `"group":"app_g"`},
		{"one", adminCall{method: "GET", path: "/v1/consumers/app_g", token: tokStatus}, 200, "", `"delivery":"receive"`},
		{"unknown", adminCall{method: "GET", path: "/v1/consumers/nobody", token: tokStatus}, 404, codeConsumerNotFound, "nobody"},
	}
	for _, s := range steps {
		r := callAdmin(t, g, s.call)
		if r.status != s.status || r.str("code") != s.code || !strings.Contains(r.raw, s.msg) {
			t.Errorf("%s: %d %s, want %d %s %q", s.name, r.status, r.raw, s.status, s.code, s.msg)
		}
	}
	// The consumer added consumes.
	bodies := produce(t, g, topic, "adm", 3, "")
	drainReceive(t, g, "app_g", bodies, 20*time.Second)
	waitUntil(t, 5*time.Second, "both queues held", func() bool { return len(heldQueues(g, "app_g", topic)) == 2 })

	r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/app_g", token: tokConsumers})
	if r.status != http.StatusOK || r.str("state") != "removed" {
		t.Errorf("delete: %d %s", r.status, r.raw)
	}
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/app_g", token: tokConsumers}); r.status != 404 {
		t.Errorf("delete again: %d %s", r.status, r.raw)
	}
	if r := post(t, g, "/v1/consumers/app_g/receive", map[string]int{"max": 1}); r.status != 404 {
		t.Errorf("receive after delete: %d %s", r.status, r.raw)
	}
}

// TestAdminConsumersKeptAcrossRestart: a consumer added through the admin API runs again
// after a restart, until deleted; the file's [[consumer]] of the same group wins; one
// kept that cannot start any more is logged, and DELETE drops it; a consumers.json that
// does not parse stops the start, naming it.
func TestAdminConsumersKeptAcrossRestart(t *testing.T) {
	dc := consumeCluster(t)
	dir := t.TempDir()
	const topic, other = "KeptTopic", "KeptOtherTopic"
	config := func(file ...ConsumerConfig) Config {
		cfg := consumersAdminConfig(dc.NameServerAddr(), dir)
		cfg.Client.HeartbeatInterval = 500 * time.Millisecond
		cfg.Consumers = file
		return cfg
	}
	put := func(g *Gateway, group, topic string) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "consume_from": "first",
			"rebalance_interval": "300ms"})
		if r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/" + group, token: tokConsumers, body: b}); r.status != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", group, r.status, r.raw)
		}
	}
	status := func(g *Gateway, group string) reply {
		return callAdmin(t, g, adminCall{method: "GET", path: "/v1/consumers/" + group, token: tokStatus})
	}

	g, stop := runGateway(t, config())
	createTopic(t, g, dc.BrokerAddr(), topic, 2)
	createTopic(t, g, dc.BrokerAddr(), other, 2)
	put(g, "kept_g", topic)
	put(g, "clash_g", topic)
	stop()

	// The file now has a clash_g of its own, on the other topic.
	g, stop = runGateway(t, config(fastConsumer("clash_g", other, "receive")))
	if r := status(g, "kept_g"); r.status != http.StatusOK || r.str("state") != "running" {
		t.Fatalf("kept_g after the restart: %d %s", r.status, r.raw)
	}
	bodies := produce(t, g, topic, "kept", 3, "")
	drainReceive(t, g, "kept_g", bodies, 20*time.Second)
	if r := status(g, "clash_g"); r.status != http.StatusOK || !strings.Contains(r.raw, other) || strings.Contains(r.raw, `"`+topic+`"`) {
		t.Fatalf("clash_g runs the kept settings, not the file's: %s", r.raw)
	}
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/kept_g", token: tokConsumers}); r.status != http.StatusOK {
		t.Fatalf("DELETE kept_g: %d %s", r.status, r.raw)
	}
	stop()

	// Deleted: not started again. A kept consumer naming a plugin that is gone: logged,
	// not started, dropped by DELETE.
	store, _, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	gone := fastConsumer("gone_g", topic, "receive")
	gone.Allocate = "deleted_plugin"
	if err := store.keepConsumer(gone); err != nil {
		t.Fatal(err)
	}
	store.close()
	g, stop = runGateway(t, config())
	if r := status(g, "kept_g"); r.status != http.StatusNotFound {
		t.Fatalf("kept_g deleted, yet after the restart: %d %s", r.status, r.raw)
	}
	if r := status(g, "gone_g"); r.status != http.StatusNotFound {
		t.Fatalf("gone_g started: %d %s", r.status, r.raw)
	}
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/gone_g", token: tokConsumers}); r.status != http.StatusOK || r.str("state") != "removed" {
		t.Fatalf("DELETE of a kept consumer not running: %d %s", r.status, r.raw)
	}
	kept, err := g.plugins.store.readConsumers()
	if err != nil || len(kept) != 1 || kept[0].Group != "clash_g" {
		t.Fatalf("kept after the deletes: %v, %v; want clash_g alone", kept, err)
	}
	stop()

	if err := os.WriteFile(filepath.Join(dir, consumersName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err = New(config())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err == nil || !strings.Contains(err.Error(), consumersName) {
		t.Fatalf("start with a consumers.json that does not parse: %v", err)
	}
	_ = g.Shutdown(ctxFor(t, 30*time.Second))
}

// TestAdminConsumerNotKeptIsNotAdded: a consumer the store cannot keep (a crash before
// consumers.json's rename) is not added either, and nothing is kept.
func TestAdminConsumerNotKeptIsNotAdded(t *testing.T) {
	dc := consumeCluster(t)
	dir := t.TempDir()
	cfg := consumersAdminConfig(dc.NameServerAddr(), dir)
	g := startGateway(t, cfg)
	const topic = "NotKeptTopic"
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	st := g.plugins.store
	setFailpoint := func(f func(string) error) {
		st.cmu.Lock() // consumers.json is written under cmu
		st.failpoint = f
		st.cmu.Unlock()
	}
	setFailpoint(func(stage string) error {
		if stage == "consumers" {
			return errors.New("power cut")
		}
		return nil
	})
	body, _ := json.Marshal(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}})
	put := adminCall{method: "PUT", path: "/v1/consumers/nk_g", token: tokConsumers, body: body}
	if r := callAdmin(t, g, put); r.status != http.StatusInternalServerError || !strings.Contains(r.raw, "power cut") {
		t.Fatalf("PUT during the crash: %d %s", r.status, r.raw)
	}
	if r := callAdmin(t, g, adminCall{method: "GET", path: "/v1/consumers/nk_g", token: tokStatus}); r.status != http.StatusNotFound {
		t.Fatalf("the consumer runs though it was not kept: %d %s", r.status, r.raw)
	}
	if _, err := os.Stat(filepath.Join(dir, consumersName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("consumers.json after the failed PUT: %v", err)
	}
	setFailpoint(nil)
	if r := callAdmin(t, g, put); r.status != http.StatusCreated {
		t.Fatalf("PUT after: %d %s", r.status, r.raw)
	}
}

// TestAdminConsumerKeptButDirectoryNotSynced: consumers.json's rename is made, then the
// directory's fsync fails. The next start reads the new file, so the change is made: PUT
// and DELETE answer it as made (and log the failed fsync as an error), and what runs is
// what the next start runs. A PUT used to answer 500 "not added" and stop the consumer,
// which the next start ran all the same; a DELETE answered 500 "still kept" for a
// consumer no longer kept.
func TestAdminConsumerKeptButDirectoryNotSynced(t *testing.T) {
	dc := consumeCluster(t)
	dir := t.TempDir()
	var logs syncBuffer
	cfg := consumersAdminConfig(dc.NameServerAddr(), dir)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	g := startGateway(t, cfg)
	const topic = "UnsyncedTopic"
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	st := g.plugins.store
	diskFault := errors.New("input/output error")
	failDirSync := func(on bool) {
		st.cmu.Lock() // consumers.json is written under cmu
		defer st.cmu.Unlock()
		st.failpoint = nil
		if on {
			st.failpoint = func(stage string) error {
				if stage == "consumers dirsync" {
					return diskFault
				}
				return nil
			}
		}
	}
	// kept is what the next start runs, read afresh from the store's directory.
	kept := func() []string {
		t.Helper()
		list, err := (&pluginStore{dir: dir}).readConsumers()
		if err != nil {
			t.Fatal(err)
		}
		var groups []string
		for _, cc := range list {
			groups = append(groups, cc.Group)
		}
		return groups
	}
	running := func(group string) bool {
		t.Helper()
		r := callAdmin(t, g, adminCall{method: "GET", path: "/v1/consumers/" + group, token: tokStatus})
		return r.status == http.StatusOK
	}
	body, _ := json.Marshal(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}})
	put := func(group string) reply {
		return callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/" + group, token: tokConsumers, body: body})
	}
	del := func(group string) reply {
		return callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/" + group, token: tokConsumers})
	}

	failDirSync(true)
	if r := put("a_g"); r.status != http.StatusCreated {
		t.Fatalf("PUT with the directory's fsync failing: %d %s", r.status, r.raw)
	}
	if k := kept(); !running("a_g") || !slices.Equal(k, []string{"a_g"}) {
		t.Fatalf("a_g answered added: running %v, kept for the next start %v", running("a_g"), k)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, dir) || !strings.Contains(l, diskFault.Error()) {
		t.Fatalf("the failed fsync is not logged as an error naming the directory and the error:\n%s", l)
	}
	failDirSync(false)
	if r := put("b_g"); r.status != http.StatusCreated {
		t.Fatalf("the next PUT: %d %s", r.status, r.raw)
	}
	if k := kept(); !slices.Equal(k, []string{"a_g", "b_g"}) {
		t.Fatalf("kept after the next PUT: %v", k)
	}

	failDirSync(true)
	if r := del("a_g"); r.status != http.StatusOK || r.str("state") != "removed" {
		t.Fatalf("DELETE with the directory's fsync failing: %d %s", r.status, r.raw)
	}
	if k := kept(); running("a_g") || !slices.Equal(k, []string{"b_g"}) {
		t.Fatalf("a_g answered removed: running %v, kept for the next start %v", running("a_g"), k)
	}
	// A consumer kept but not running (as one that could not start) is dropped alike.
	failDirSync(false)
	if err := st.keepConsumer(fastConsumer("idle_g", topic, DeliveryReceive)); err != nil {
		t.Fatal(err)
	}
	failDirSync(true)
	if r := del("idle_g"); r.status != http.StatusOK || r.str("state") != "removed" {
		t.Fatalf("DELETE of a consumer kept, not running, with the directory's fsync failing: %d %s", r.status, r.raw)
	}
	if k := kept(); !slices.Equal(k, []string{"b_g"}) {
		t.Fatalf("idle_g answered removed, yet kept for the next start: %v", k)
	}
	if r := del("idle_g"); r.status != http.StatusNotFound {
		t.Fatalf("DELETE again: %d %s", r.status, r.raw)
	}
}

// TestDeleteOfAConsumerStartingIs409: a consumer still starting (or stopping) cannot be
// removed yet: 409, to try again, not a 500.
func TestDeleteOfAConsumerStartingIs409(t *testing.T) {
	dc := consumeCluster(t)
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	g := startGateway(t, cfg)
	t.Cleanup(func() { // let the gateway's shutdown forget it
		g.consumers.mu.Lock()
		delete(g.consumers.byGroup, "starting_g")
		g.consumers.mu.Unlock()
	})
	g.consumers.mu.Lock()
	g.consumers.byGroup["starting_g"] = &gwConsumer{cfg: ConsumerConfig{Group: "starting_g"}, state: "starting"}
	g.consumers.mu.Unlock()
	r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/starting_g", token: tokConsumers})
	if r.status != http.StatusConflict || r.str("code") != codeConflict || !strings.Contains(r.str("error"), "starting") {
		t.Errorf("DELETE of a consumer starting: %d %s", r.status, r.raw)
	}
}

// TestConcurrentPutAndDeleteOfAConsumerKeepTheStoreTrue: PUTs and DELETEs of one group
// racing leave the consumers kept for the next start (consumers.json) as what runs: a
// consumer deleted is not run again after a restart, one running is.
func TestConcurrentPutAndDeleteOfAConsumerKeepTheStoreTrue(t *testing.T) {
	dc := consumeCluster(t)
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	g := startGateway(t, cfg)
	const topic, group = "RaceConsTopic", "race_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	body, _ := json.Marshal(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}})
	for round := range 100 {
		var wg sync.WaitGroup
		for k := range 4 {
			wg.Go(func() {
				if k%2 == 0 {
					callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/" + group, token: tokConsumers, body: body})
				} else {
					callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/consumers/" + group, token: tokConsumers})
				}
			})
		}
		wg.Wait()
		kept, err := g.plugins.store.readConsumers()
		if err != nil {
			t.Fatal(err)
		}
		_, running := g.consumerConfig(group)
		if isKept := len(kept) == 1; isKept != running {
			t.Fatalf("round %d: kept for the next start %v, running %v", round, isKept, running)
		}
	}
}

// A DELETE whose client goes away (a timeout shorter than the consumer's stop, a proxy)
// still stops the consumer whole: offsets persisted, and no longer kept, so that it does
// not run again at the next start. It used to stop with the request's context, cut
// short: offsets not persisted, and consumers.json left as it was.
func TestDeleteOfAConsumerOutlivesItsClient(t *testing.T) {
	dc := consumeCluster(t)
	cfg := consumersAdminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Client.HeartbeatInterval = 500 * time.Millisecond
	g := startGateway(t, cfg)
	const topic, group = "DelGoneTopic", "del_gone_g"
	createTopic(t, g, dc.BrokerAddr(), topic, 1)
	b, _ := json.Marshal(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "consume_from": "first",
		"rebalance_interval": "300ms"})
	if r := callAdmin(t, g, adminCall{method: "PUT", path: "/v1/consumers/" + group, token: tokConsumers, body: b}); r.status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	drainReceive(t, g, group, produce(t, g, topic, "gone", 3, ""), 20*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone by the time the handler runs
	req := httptest.NewRequestWithContext(ctx, "DELETE", "/v1/consumers/"+group, nil)
	req.Header.Set("Authorization", "Bearer "+tokConsumers)
	g.admin.mux.ServeHTTP(httptest.NewRecorder(), req)

	if kept, err := g.plugins.store.readConsumers(); err != nil || len(kept) != 0 {
		t.Errorf("kept after the DELETE: %v, %v: it would run again at the next start", kept, err)
	}
	if _, err := g.ConsumerStatus(group); err == nil {
		t.Error("the consumer still runs")
	}
	off, err := g.inst.QueryConsumerOffset(ctxFor(t, 5*time.Second), dc.BrokerAddr(),
		&remoting.QueryConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: 0})
	if err != nil || off != 3 {
		t.Errorf("the broker's offset after the DELETE: %d, %v; want 3", off, err)
	}
}
