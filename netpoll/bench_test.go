package netpoll

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mqgate/mqgate/remoting"
)

// BenchmarkRoundTrip measures Invoke against an in-process echo server over loopback.
// cpu-ns/op is the process's user+system CPU per request, client and server together;
// allocs/op likewise counts both ends.
func BenchmarkRoundTrip(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			benchRoundTrip(b, callers, ServerConfig{}, ClientConfig{})
		})
	}
}

// BenchmarkRoundTripNetConn is BenchmarkRoundTrip over package net (NetConn).
func BenchmarkRoundTripNetConn(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			benchRoundTrip(b, callers, ServerConfig{NetConn: true}, ClientConfig{NetConn: true})
		})
	}
}

// BenchmarkRoundTripTLS is BenchmarkRoundTrip over crypto/tls.
func BenchmarkRoundTripTLS(b *testing.B) {
	stls, ctls := selfSigned(b)
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			benchRoundTrip(b, callers, ServerConfig{TLS: stls}, ClientConfig{TLS: ctls})
		})
	}
}

// benchRequest looks like a small send: a JSON header with a handful of fields (the
// serialization rocketmq-client-go uses) and a 128-byte body.
func benchRequest() *remoting.Command {
	req := &remoting.Command{Code: int32(codeEcho), Language: remoting.LanguageGo, Version: 317}
	for _, f := range [][2]string{{"a", "bench-group"}, {"b", "BenchTopic"}, {"c", "TBW102"}, {"d", "4"},
		{"e", "1"}, {"f", "0"}, {"g", "1700000000000"}, {"h", "0"}, {"i", "UNIQ_KEY\x017F0000010001\x02WAIT\x01true"}} {
		req.Ext.Set(f[0], f[1])
	}
	req.Body = make([]byte, 128)
	return req
}

func benchRoundTrip(b *testing.B, callers int, scfg ServerConfig, ccfg ClientConfig) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	scfg.Logger, ccfg.Logger = quiet, quiet
	_, addr := startServer(b, scfg, nil)
	cl := newClient(b, ccfg)
	req := benchRequest()
	ctx := context.Background()
	if _, err := cl.Invoke(ctx, addr, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := cl.Invoke(ctx, addr, req); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(before.Utime) +
		syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(before.Stime)
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
