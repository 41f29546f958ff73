package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// build compiles the command into a temporary directory, once per test binary.
func build(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		dir, err := os.MkdirTemp("", "gateway-cmd-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gateway")
		if out, err := exec.Command(gobin, "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var readyLine = regexp.MustCompile(`^gateway ready: http://(\S+) \(dev cluster: namesrv (\S+), broker (\S+)\)$`)

func TestDevGatewayProducesAndExitsCleanlyOnSIGTERM(t *testing.T) {
	cfg := writeConfig(t, `
[http]
listen = "127.0.0.1:0"

[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
`)
	cmd := exec.Command(build(t), "--config", cfg, "--dev", "--log-level", "warn", "--log-format", "json")
	r := startBinary(t, cmd)
	line := r.ready
	m := readyLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line %q; stderr:\n%s", line, r.stderr.String())
	}

	resp, err := http.Post("http://"+m[1]+"/v1/topics/CmdTopic/messages", "application/json",
		strings.NewReader(`{"body": "hello from the test", "tags": "TagA", "keys": ["k1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct {
		MessageID string `json:"message_id"`
		Queue     struct {
			Topic string `json:"topic"`
		} `json:"queue"`
		Offset *int64 `json:"offset"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || resp.StatusCode != http.StatusOK ||
		answer.MessageID == "" || answer.Queue.Topic != "CmdTopic" || answer.Offset == nil {
		t.Fatalf("produce: %d %s (%v)", resp.StatusCode, body, err)
	}

	r.stop(t)
	for _, addr := range m[1:] {
		if c, err := (&http.Client{Timeout: time.Second}).Get("http://" + addr + "/healthz"); err == nil {
			c.Body.Close()
			t.Errorf("%s still answers after exit", addr)
		}
	}
}

func TestBadConfigurationExitsWith2AndNamesTheLine(t *testing.T) {
	tests := []struct {
		name string
		args func(cfg string) []string
		file string
		want string // in stderr
	}{
		{"unknown key", func(cfg string) []string { return []string{"--config", cfg} },
			"[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n[http]\nlisen = \"127.0.0.1:0\"\n",
			`gateway.toml:5: unknown key "lisen" in [http] (did you mean "listen"?)`},
		{"wrong type", func(cfg string) []string { return []string{"--config", cfg} },
			"[client]\nnamesrv = \"127.0.0.1:9876\"\n",
			`gateway.toml:2: key "namesrv" in [client]: want an array of strings, got a string`},
		{"invalid setting", func(cfg string) []string { return []string{"--config", cfg} },
			"[http]\nlisten = \"127.0.0.1:0\"\n",
			"[client]: no NameServer"},
		{"value that parses but cannot work", func(cfg string) []string { return []string{"--config", cfg} },
			"[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n[telemetry]\nenabled = true\nsample_ratio = 2.0\n",
			"gateway.toml:6: [telemetry] telemetry: sample_ratio 2: want 0 to 1"},
		{"bad [log] format", func(cfg string) []string { return []string{"--config", cfg} },
			"[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n[log]\nformat = \"yaml\"\n",
			`gateway.toml:5: [log] format: "yaml": want text or json`},
		{"bad [log] level", func(cfg string) []string { return []string{"--config", cfg} },
			"[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n[log]\nlevel = \"loud\"\n",
			`gateway.toml:5: [log] level: "loud": want debug, info, warn or error`},
		{"missing file named explicitly", func(string) []string { return []string{"--config", "/nonexistent/gateway.toml"} },
			"", "/nonexistent/gateway.toml: no such file"},
		{"bad flag", func(cfg string) []string { return []string{"--config", cfg, "--log-level", "loud"} },
			"", "--log-level"},
		{"stray argument", func(cfg string) []string { return []string{"--config", cfg, "serve"} },
			"", "unexpected arguments"},
	}
	bin := build(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args(writeConfig(t, tt.file))...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tt.want)
			}
		})
	}
}

// In a JSON log, the error a gateway stops on is a JSON error record too, so that a log
// pipeline parsing the log sees why the gateway is gone: JSON asked by the flag (a bad
// file) or by the file's [log] (a port in use).
func TestFatalErrorInAJSONLogIsARecord(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bin := build(t)
	for _, tt := range []struct {
		name, file string
		flags      []string
		status     int
		want       string
	}{
		{"bad file, --log-format json", "[client]\nnamesrv = \"127.0.0.1:9876\"\n", []string{"--log-format", "json"}, 2,
			`gateway.toml:2: key "namesrv" in [client]: want an array of strings, got a string`},
		{"port in use, [log] json", "[log]\nformat = \"json\"\n\n[http]\nlisten = \"" + busy.Addr().String() + "\"\n\n[admin]\nlisten = \"\"\n\n" +
			"[dev]\nnamesrv_listen = \"127.0.0.1:0\"\nbroker_listen = \"127.0.0.1:0\"\n", []string{"--dev"}, 1,
			"gateway: HTTP API: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--config", writeConfig(t, tt.file)}, tt.flags...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.status {
				t.Fatalf("exit %v, want status %d; stderr:\n%s", err, tt.status, stderr.String())
			}
			found := false
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				var rec struct{ Level, Msg string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("a line of the JSON log is not JSON: %q", line)
				}
				found = found || rec.Level == "ERROR" && strings.Contains(rec.Msg, tt.want)
			}
			if !found {
				t.Errorf("no error record %q in:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// A port already in use stops the start: status 1 and one clear line naming the API
// and the address, the program named once.
func TestPortInUseExitsWith1(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bin := build(t)
	for _, tt := range []struct{ name, section, want string }{
		{"HTTP API", "[http]\nlisten = \"" + busy.Addr().String() + "\"\n",
			"gateway: HTTP API: listen tcp " + busy.Addr().String() + ": bind: address already in use\n"},
		{"dev cluster", "[http]\nlisten = \"127.0.0.1:0\"\n\n[dev]\nnamesrv_listen = \"" + busy.Addr().String() + "\"\nbroker_listen = \"127.0.0.1:0\"\n",
			"gateway: starting the dev cluster: devcluster: starting the name server on " + busy.Addr().String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.section + "\n[admin]\nlisten = \"\"\n"
			if !strings.Contains(text, "[dev]") {
				text += "\n[dev]\nnamesrv_listen = \"127.0.0.1:0\"\nbroker_listen = \"127.0.0.1:0\"\n"
			}
			cmd := exec.Command(bin, "--config", writeConfig(t, text), "--dev", "--log-level", "warn")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; stderr:\n%s", err, stderr.String())
			}
			if got := stderr.String(); !strings.Contains(got, tt.want) || strings.Contains(got, "gateway: gateway") {
				t.Errorf("stderr %q, want %q", got, tt.want)
			}
		})
	}
}

// A gateway that cannot listen does not join its consumer groups first: each restart of
// a crash loop would rebalance the whole group twice.
func TestPortInUseJoinsNoConsumerGroup(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := writeConfig(t, `
[http]
listen = "`+busy.Addr().String()+`"

[admin]
listen = ""

[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"

[[consumer]]
group = "orders-app"
subscriptions = [{ topic = "Orders" }]
`)
	cmd := exec.Command(build(t), "--config", cfg, "--dev", "--log-level", "info")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want status 1; stderr:\n%s", err, stderr.String())
	}
	if log := stderr.String(); strings.Contains(log, "consumer: started") {
		t.Errorf("the consumer started before the port was found in use:\n%s", log)
	}
}

// TestParseFlags: the log flags read as the file's [log] settings do, in any case; a
// flag that cannot work is an error naming it.
func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		format  string
		wantErr string
	}{
		{nil, "text", ""},
		{[]string{"--log-format", "json"}, "json", ""},
		{[]string{"--log-format", "JSON"}, "json", ""},
		{[]string{"--log-level", "WARN"}, "text", ""},
		{[]string{"--log-format", "yaml"}, "", "--log-format"},
		{[]string{"--log-level", "loud"}, "", "--log-level"},
		{[]string{"extra"}, "", "unexpected arguments"},
	} {
		o, err := parseFlags(tt.args, io.Discard)
		switch {
		case tt.wantErr == "" && (err != nil || o.logFormat != tt.format):
			t.Errorf("%q: format %q, error %v; want %q", tt.args, o.logFormat, err, tt.format)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want one naming %s", tt.args, err, tt.wantErr)
		}
	}
}
