package host

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/wasmgen"
)

// TestRuntimeFreeEnricher runs wasmgen.Enricher, the send hook written without a language
// runtime that the benchmarks set beside the sdk's Go enricher: it must do the same work
// through the same ABI, or the comparison says nothing.
func TestRuntimeFreeEnricher(t *testing.T) {
	r, _ := newRuntime(t)
	var plugins []*Plugin
	load := func(overwrite bool) *SendHook {
		p, err := r.Load(context.Background(), PluginConfig{Name: fmt.Sprint("raw-enricher-", overwrite), Kind: KindSend, Instances: 1},
			wasmgen.Enricher("x-gateway-region", "eu-1", overwrite))
		if err != nil {
			t.Fatal(err)
		}
		plugins = append(plugins, p)
		h, err := NewSendHook(p)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	keep, overwrite := load(false), load(true)
	// A batch large enough to make the module grow its memory for the input and output.
	evs := sendEvents("TagA", strings.Split(strings.Repeat("x,", 3000), ",")[:3000]...)
	for i := range evs {
		switch i % 3 {
		case 1:
			evs[i].Message.Properties.Set("x-gateway-region", "us-2")
		case 2:
			evs[i].Message.Properties.Set("x-gateway-regio", "near miss")
			evs[i].Message.Properties.Set("x-gateway-regiom", "near miss")
		}
	}
	if err := keep.BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		want := map[int]string{0: "eu-1", 1: "us-2", 2: "eu-1"}[i%3]
		if v, _ := ev.Message.Properties.Lookup("x-gateway-region"); v != want {
			t.Fatalf("message %d: x-gateway-region %q, want %q", i, v, want)
		}
		if ev.Reject != "" {
			t.Fatalf("message %d rejected: %s", i, ev.Reject)
		}
	}
	if err := overwrite.BeforeSend(context.Background(), evs[:4]); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs[:4] {
		if v, _ := ev.Message.Properties.Lookup("x-gateway-region"); v != "eu-1" {
			t.Fatalf("overwrite: message %d has %q", i, v)
		}
	}
	for _, p := range plugins {
		if st := p.Status(); st.Failures != 0 || st.Calls == 0 {
			t.Fatalf("%s: %d calls, %d failed", p.Name(), st.Calls, st.Failures)
		}
	}
}
