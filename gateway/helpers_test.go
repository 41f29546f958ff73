package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/message"
)

// discard is the tests' logger; MQGATE_TEST_LOG=debug (or info...) shows the logs.
var discard = func() *slog.Logger {
	if lvl := os.Getenv("MQGATE_TEST_LOG"); lvl != "" {
		var level slog.Level
		_ = level.UnmarshalText([]byte(lvl))
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.DiscardHandler)
}()

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startDevCluster starts a devcluster private to the test on free ports.
func startDevCluster(t testing.TB, cfg devcluster.Config) *devcluster.Cluster {
	t.Helper()
	cfg.Logger = discard
	c, err := devcluster.Start(ctxFor(t, 30*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(ctxFor(t, 10*time.Second)) })
	return c
}

// testConfig is a gateway on a free port pointed at the NameServer.
func testConfig(namesrv string) Config {
	return Config{
		HTTP:   HTTPConfig{Listen: "127.0.0.1:0"},
		Client: ClientConfig{NameServers: []string{namesrv}},
		Logger: discard,
	}
}

// startGateway makes and starts a gateway, shut down with the test.
func startGateway(t testing.TB, cfg Config) *Gateway {
	t.Helper()
	g, stop := runGateway(t, cfg)
	t.Cleanup(stop)
	return g
}

// runGateway makes and starts a gateway, shut down by calling stop (for a test that
// restarts one).
func runGateway(t testing.TB, cfg Config) (g *Gateway, stop func()) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	return g, func() {
		if err := g.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

// reply is a decoded answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

var client = &http.Client{Timeout: 30 * time.Second}

// post sends body (a string, or a value marshalled to JSON) to the gateway's path.
func post(t testing.TB, g *Gateway, path string, body any) reply {
	t.Helper()
	return postWith(t, client, "http://"+g.Addr()+path, body)
}

func postWith(t testing.TB, c *http.Client, url string, body any) reply {
	t.Helper()
	b, ok := body.(string)
	if !ok {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		b = string(j)
	}
	resp, err := c.Post(url, "application/json", bytes.NewReader([]byte(b)))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return readReply(t, resp)
}

func get(t testing.TB, g *Gateway, path string) reply {
	t.Helper()
	resp, err := client.Get("http://" + g.Addr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return readReply(t, resp)
}

func readReply(t testing.TB, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return r
}

// stored reads back the message a send result names, from the broker, by its offset
// message id.
func stored(t testing.TB, g *Gateway, brokerAddr string, r reply) *message.Ext {
	t.Helper()
	_, off, err := message.ParseOffsetMsgID(r.str("offset_message_id"))
	if err != nil {
		t.Fatalf("offset_message_id %q: %v", r.str("offset_message_id"), err)
	}
	m, err := g.inst.ViewMessage(ctxFor(t, 10*time.Second), brokerAddr, off)
	if err != nil {
		t.Fatalf("view message: %v", err)
	}
	return m
}
