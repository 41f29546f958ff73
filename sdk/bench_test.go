package sdk

import (
	"strings"
	"testing"

	"github.com/mqgate/mqgate/sdk/abi"
)

// BenchmarkDispatch measures the guest side of a send hook call: natively with go test,
// and as WebAssembly by running the test binary built with GOOS=wasip1 GOARCH=wasm under
// a wasip1 runtime (host/'s benchmarks measure the whole call).
func BenchmarkDispatch(b *testing.B) {
	var msgs [][2]string
	for range 32 {
		msgs = append(msgs, [2]string{props("TAGS", "TagA", "KEYS", "k0 k1", "UNIQ_KEY", "0123456789ABCDEF0123456789", "WAIT", "true"),
			strings.Repeat("x", 1024)})
	}
	for _, hook := range []struct {
		name   string
		before func(m *SendMessage) error
	}{
		{"nothing", func(*SendMessage) error { return nil }},
		{"lookup", func(m *SendMessage) error { _ = m.Property("x-gateway"); return nil }},
		{"set", func(m *SendMessage) error { m.SetProperty("x-gateway", "eu-1"); return nil }},
	} {
		Reset()
		RegisterSendHook(SendHook{Before: hook.before})
		Dispatch(abi.EntryInit, nil)
		for _, n := range []int{1, 32} {
			in := sendInput(msgs[:n]...)
			b.Run(hook.name+"/"+map[int]string{1: "single", 32: "batch32"}[n], func(b *testing.B) {
				for b.Loop() {
					Dispatch(abi.EntryBeforeSend, in)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
			})
		}
	}
}
