package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The admin API's tokens in the tests, one per scope.
const (
	tokWriter = "writer-token-0123456789"
	tokReader = "reader-token-0123456789"
	tokStatus = "status-token-0123456789"
	tokRoot   = "root-token-0123456789ab"
)

// testWasmCache is the compilation cache the tests share with host's: compiling a Go
// module under the race detector takes seconds, the cache keeps that to the first run.
func testWasmCache() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "mqgate", "wazero-test")
}

// adminConfig is testConfig with the admin API on a free port and a plugin store in dir.
func adminConfig(namesrv, dir string) Config {
	cfg := testConfig(namesrv)
	cfg.Admin = AdminConfig{Listen: ptr("127.0.0.1:0"), Tokens: []AdminToken{
		{Name: "writer", Token: tokWriter, Scopes: []string{ScopePluginsWrite}},
		{Name: "reader", Token: tokReader, Scopes: []string{ScopePluginsRead}},
		{Name: "status", Token: tokStatus, Scopes: []string{ScopeStatusRead}},
		{Name: "root", Token: tokRoot, Scopes: []string{ScopeAll}},
	}}
	cfg.Plugins = PluginsConfig{Dir: dir, CacheDir: testWasmCache()}
	return cfg
}

// adminCall is one request to an admin handler.
type adminCall struct {
	method, path, token string
	body                []byte
	contentType         string
}

func (c adminCall) request() *http.Request {
	req := httptest.NewRequest(c.method, c.path, bytes.NewReader(c.body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	return req
}

// serveAdmin runs c through h and decodes the answer.
func serveAdmin(t testing.TB, h http.Handler, c adminCall) reply {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, c.request())
	return readReply(t, rec.Result())
}

// callAdmin sends c to a started gateway's admin listener.
func callAdmin(t testing.TB, g *Gateway, c adminCall) reply {
	t.Helper()
	req := c.request()
	req.RequestURI = ""
	req.URL.Scheme, req.URL.Host = "http", g.AdminAddr()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return readReply(t, resp)
}

func TestAdminRefusesWithoutTheRightToken(t *testing.T) {
	cfg := adminConfig("127.0.0.1:9876", t.TempDir())
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := g.AdminHandler()
	tests := []struct {
		name   string
		call   adminCall
		status int
		code   string
		auth   string // WWW-Authenticate
		msg    string
	}{
		{"no token", adminCall{method: "GET", path: "/v1/plugins"}, 401, codeUnauthorized, `Bearer realm="mqgate-admin"`, "missing bearer token"},
		{"another scheme", adminCall{method: "GET", path: "/v1/plugins", token: ""}, 401, codeUnauthorized, `Bearer realm="mqgate-admin"`, ""},
		{"an unknown token", adminCall{method: "GET", path: "/v1/plugins", token: "writer-token-0123456780"}, 401, codeUnauthorized,
			`Bearer realm="mqgate-admin", error="invalid_token"`, "unknown bearer token"},
		{"a prefix of a token", adminCall{method: "GET", path: "/v1/plugins", token: "writer-token"}, 401, codeUnauthorized, "", ""},
		{"status token reading plugins", adminCall{method: "GET", path: "/v1/plugins", token: tokStatus}, 403, codeForbidden, "", `token "status" lacks the scope plugins:read`},
		{"reader uploading", adminCall{method: "PUT", path: "/v1/plugins/p?slot=send", token: tokReader, body: []byte("\x00asm")}, 403, codeForbidden, "", "lacks the scope plugins:write"},
		{"reader deleting", adminCall{method: "DELETE", path: "/v1/plugins/p", token: tokReader}, 403, codeForbidden, "", "plugins:write"},
		{"reader rolling back", adminCall{method: "POST", path: "/v1/plugins/p/rollback", token: tokReader}, 403, codeForbidden, "", "plugins:write"},
		{"reader on the status", adminCall{method: "GET", path: "/v1/status", token: tokReader}, 403, codeForbidden, "", "status:read"},
		{"reader listing", adminCall{method: "GET", path: "/v1/plugins", token: tokReader}, 200, "", "", ""},
		{"writer listing (write includes read)", adminCall{method: "GET", path: "/v1/plugins", token: tokWriter}, 200, "", "", ""},
		{"status token on the status", adminCall{method: "GET", path: "/v1/status", token: tokStatus}, 200, "", "", ""},
		{"root token anywhere", adminCall{method: "GET", path: "/v1/status", token: tokRoot}, 200, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.call.request()
			if tt.name == "another scheme" {
				req.Header.Set("Authorization", "Basic "+tokRoot)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			r := readReply(t, rec.Result())
			if r.status != tt.status || r.str("code") != tt.code {
				t.Fatalf("%d %s, want %d %q", r.status, r.raw, tt.status, tt.code)
			}
			if tt.auth != "" && r.header.Get("WWW-Authenticate") != tt.auth {
				t.Errorf("WWW-Authenticate %q, want %q", r.header.Get("WWW-Authenticate"), tt.auth)
			}
			if !strings.Contains(r.str("error"), tt.msg) {
				t.Errorf("error %q does not say %q", r.str("error"), tt.msg)
			}
		})
	}
	if r := serveAdmin(t, h, adminCall{method: "GET", path: "/v1/plugins", token: tokReader}); r.raw != "{\"plugins\":[]}\n" {
		t.Errorf("list %s", r.raw)
	}
}

func TestAdminIsOffWithoutTokens(t *testing.T) {
	g, err := New(testConfig("127.0.0.1:9876"))
	if err != nil {
		t.Fatal(err)
	}
	if g.AdminHandler() != nil {
		t.Fatal("an admin API without tokens")
	}
}

// decodeJSON decodes a reply's raw body into v.
func decodeJSON(t testing.TB, r reply, v any) {
	t.Helper()
	if err := json.NewDecoder(strings.NewReader(r.raw)).Decode(v); err != nil && err != io.EOF {
		t.Fatalf("%s: %v", r.raw, err)
	}
}
