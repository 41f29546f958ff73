package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

const tokConsumers = "consumers-token-0123456789"

func TestAdminConsumers(t *testing.T) {
	dc := consumeCluster(t)
	cfg := adminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Admin.Tokens = append(cfg.Admin.Tokens, AdminToken{Name: "consumers", Token: tokConsumers, Scopes: []string{ScopeConsumersWrite}})
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
		{"an unknown key", adminCall{method: "PUT", path: "/v1/consumers/hook_g", token: tokConsumers,
			body: body(map[string]any{"subscriptions": []map[string]string{{"topic": topic}}, "webhok_url": "x"})}, 400, codeBadRequest, "webhok_url"},
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
