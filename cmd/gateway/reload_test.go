package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP reloads the file: a [[consumer]] added appears on the API; a file that does not
// parse is refused with its line and changes nothing; a listen address changed is
// reported as needing a restart.
func TestSIGHUPReloadsTheConfiguration(t *testing.T) {
	const head = `
[http]
listen = "127.0.0.1:0"

[admin]
listen = ""

[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
`
	const consumer = `
[[consumer]]
group = "hup_group"
subscriptions = [{ topic = "HupTopic" }]
`
	path := writeConfig(t, head)
	cmd := exec.Command(build(t), "--config", path, "--dev", "--log-level", "info")
	r := startBinary(t, cmd)
	line := r.ready
	m := readyLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line %q; stderr:\n%s", line, r.stderr.String())
	}
	consumerStatus := func() int {
		resp, err := http.Get("http://" + m[1] + "/v1/consumers/hup_group")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hup := func(text, waitFor string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(r.stderr.String(), waitFor) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", waitFor, r.stderr.String())
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
	if got := consumerStatus(); got != http.StatusNotFound {
		t.Fatalf("consumer before the reload: %d", got)
	}

	hup(head+consumer, `key="consumer \"hup_group\""`)
	if got := consumerStatus(); got != http.StatusOK {
		t.Errorf("consumer after the reload: %d; stderr:\n%s", got, r.stderr.String())
	}

	hup(head+consumer+"\n[[consumer]\n", "reload refused")
	if log := r.stderr.String(); !strings.Contains(log, "gateway.toml:") {
		t.Errorf("the refusal does not name the line:\n%s", log)
	}
	if got := consumerStatus(); got != http.StatusOK {
		t.Errorf("consumer after a refused reload: %d", got)
	}

	hup(strings.Replace(head, `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:1"`, 1)+consumer, "needs a restart")
	if log := r.stderr.String(); !strings.Contains(log, "key=http.listen") {
		t.Errorf("the restart is not said key by key:\n%s", log)
	}

	r.stop(t)
}

// A SIGHUP with the file unchanged changes nothing, --log-format and --log-level saying
// otherwise than [log] included: the command line wins over [log] at start as at reload.
func TestSIGHUPOnAnUnchangedFileChangesNothingWhateverTheLogFlags(t *testing.T) {
	const text = `
[http]
listen = "127.0.0.1:0"

[admin]
listen = ""

[log]
format = "json"
level = "debug"

[dev]
namesrv_listen = "127.0.0.1:0"
broker_listen = "127.0.0.1:0"
`
	path := writeConfig(t, text)
	cmd := exec.Command(build(t), "--config", path, "--dev", "--log-format", "text", "--log-level", "info")
	r := startBinary(t, cmd)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.stderr.String(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload in the log:\n%s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	if log := r.stderr.String(); !strings.Contains(log, "nothing changed") {
		t.Errorf("an unchanged file reloaded as changed:\n%s", log[strings.Index(log, "SIGHUP"):])
	}
	r.stop(t)
}
