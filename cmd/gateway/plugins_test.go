package main

import (
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A [[plugin]] that cannot load is a bad configuration: status 2, the file's line, the
// module's file and the reason.
func TestBadPluginExitsWith2(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "enricher.wasm")
	// Its own port: the default one may be in use (the gateway listens before it loads
	// plugins), which would be another error.
	cfg := writeConfig(t, "[client]\nnamesrv = [\"127.0.0.1:1\"]\n\n[[plugin]]\nname = \"enrich\"\nfile = \""+missing+"\"\nslot = \"send\"\n"+
		"\n[http]\nlisten = \"127.0.0.1:0\"\n")
	cmd := exec.Command(build(t), "--config", cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2; stderr:\n%s", err, stderr.String())
	}
	want := `gateway.toml:4: plugin "enrich": open ` + missing + `: no such file or directory`
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not hold %q", stderr.String(), want)
	}
}

var adminReadyLine = regexp.MustCompile(`^gateway ready: http://(\S+), admin http://(\S+) \(dev cluster: namesrv \S+, broker \S+\)$`)

// With a token, the ready line names the admin API, which answers with that token only.
func TestReadyLineNamesTheAdminAPI(t *testing.T) {
	cfg := writeConfig(t, `
[http]
listen = "127.0.0.1:0"

[admin]
listen = "127.0.0.1:0"

[[admin.token]]
name = "ops"
token = "${MQGATE_TEST_ADMIN_TOKEN}"
scopes = ["status:read"]

[plugins]
dir = "`+filepath.Join(t.TempDir(), "plugins")+`"
cache_dir = "off"

[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
`)
	const token = "a-token-for-the-test-0123"
	cmd := exec.Command(build(t), "--config", cfg, "--dev", "--log-level", "warn")
	cmd.Env = append(cmd.Environ(), "MQGATE_TEST_ADMIN_TOKEN="+token)
	r := startBinary(t, cmd)
	line := r.ready
	m := adminReadyLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line %q; stderr:\n%s", line, r.stderr.String())
	}
	status := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+m[2]+"/v1/status", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := status(token); code != http.StatusOK || !strings.Contains(body, `"http":"`+m[1]+`"`) {
		t.Errorf("status with the token: %d %s", code, body)
	}
	if code, body := status(""); code != http.StatusUnauthorized {
		t.Errorf("status without a token: %d %s", code, body)
	}
	r.stop(t)
}
