package telemetry

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// batcherProvider is a tracer provider sampling everything into a SpanBatcher with o.
func batcherProvider(t *testing.T, o batcherOptions) (*sdktrace.TracerProvider, *SpanBatcher, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	b := newSpanBatcher(exp, o)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, b, exp
}

func endSpans(tp *sdktrace.TracerProvider, n int) {
	tr := tp.Tracer("test")
	for range n {
		_, s := tr.Start(context.Background(), "s")
		s.End()
	}
}

// waitExported polls until exp holds n spans or a deadline passes.
func waitExported(t *testing.T, exp *tracetest.InMemoryExporter, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d spans exported, want %d", len(exp.GetSpans()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSpanBatcher(t *testing.T) {
	t.Run("a full batch is exported without waiting for the delay", func(t *testing.T) {
		tp, _, exp := batcherProvider(t, batcherOptions{delay: time.Hour, timeout: time.Second, maxQueue: 100, maxBatch: 10})
		endSpans(tp, 10)
		waitExported(t, exp, 10)
	})
	t.Run("a span waits at most the delay", func(t *testing.T) {
		tp, _, exp := batcherProvider(t, batcherOptions{delay: 10 * time.Millisecond, timeout: time.Second, maxQueue: 100, maxBatch: 10})
		endSpans(tp, 3)
		waitExported(t, exp, 3)
	})
	t.Run("ForceFlush exports what is pending", func(t *testing.T) {
		tp, _, exp := batcherProvider(t, batcherOptions{delay: time.Hour, timeout: time.Second, maxQueue: 100, maxBatch: 10})
		endSpans(tp, 25)
		if err := tp.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(exp.GetSpans()); n != 25 {
			t.Fatalf("%d spans exported after ForceFlush, want 25", n)
		}
	})
	t.Run("ForceFlush returns at its deadline while an export is stuck on a slow collector", func(t *testing.T) {
		exp := &countingExporter{release: make(chan struct{}), started: make(chan struct{}, 1)}
		b := newSpanBatcher(exp, batcherOptions{delay: time.Hour, timeout: time.Hour, maxQueue: 100, maxBatch: 2})
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		endSpans(tp, 2) // a full batch: the goroutine's export starts and blocks
		<-exp.started
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- b.ForceFlush(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ForceFlush: %v, want the deadline", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ForceFlush with a 50ms context still blocked after 5s by the export under way")
		}
		close(exp.release)
		endSpans(tp, 1)
		if err := tp.ForceFlush(context.Background()); err != nil || exp.count() != 3 {
			t.Fatalf("ForceFlush once the export returned: %v, %d spans exported, want 3", err, exp.count())
		}
		if err := tp.Shutdown(context.Background()); err != nil || !exp.isShut() {
			t.Fatalf("Shutdown: %v, exporter shut down %v", err, exp.isShut())
		}
	})
	t.Run("Shutdown exports what is pending and shuts the exporter down, then nothing is taken", func(t *testing.T) {
		exp := &countingExporter{}
		b := newSpanBatcher(exp, batcherOptions{delay: time.Hour, timeout: time.Second, maxQueue: 100, maxBatch: 10})
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		endSpans(tp, 5)
		if n := exp.count(); n != 0 {
			t.Fatalf("%d spans exported before a batch filled or the delay passed", n)
		}
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := exp.count(); n != 5 || !exp.shut {
			t.Fatalf("after Shutdown: %d spans exported (want 5), exporter shut down %v", n, exp.shut)
		}
		b.OnEnd(tracetest.SpanStub{SpanContext: sampledContext()}.Snapshot())
		if d := b.Dropped(); d != 1 {
			t.Fatalf("dropped %d after shutdown, want 1", d)
		}
		if err := b.Shutdown(context.Background()); err != nil || exp.count() != 5 {
			t.Fatalf("second Shutdown: %v, %d exported", err, exp.count())
		}
	})
	t.Run("Shutdown bounded by its context still shuts the exporter down after a stuck export", func(t *testing.T) {
		exp := &countingExporter{release: make(chan struct{})}
		b := newSpanBatcher(exp, batcherOptions{delay: time.Hour, timeout: time.Hour, maxQueue: 100, maxBatch: 2})
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		endSpans(tp, 2) // a full batch: the export starts and blocks
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := tp.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with an export stuck: %v, want the deadline", err)
		}
		close(exp.release)
		deadline := time.Now().Add(5 * time.Second)
		for !exp.isShut() {
			if time.Now().After(deadline) {
				t.Fatal("the exporter was never shut down")
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("Shutdown bounded by its context cancels the export under way", func(t *testing.T) {
		exp := &countingExporter{release: make(chan struct{}), honourCtx: true, started: make(chan struct{}, 1)}
		b := newSpanBatcher(exp, batcherOptions{delay: time.Hour, timeout: time.Hour, maxQueue: 100, maxBatch: 2})
		tp := newTracerProvider(nil, sdktrace.AlwaysSample(), []sdktrace.SpanProcessor{b})
		tr := tp.Tracer("test")
		for range 2 { // a full batch: the export starts and waits
			_, s := tr.Start(context.Background(), "s")
			s.End()
		}
		<-exp.started
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := tp.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown with an export waiting: %v, want the deadline", err)
		}
		select {
		case <-b.done: // the goroutine ended without the export being released
		case <-time.After(5 * time.Second):
			t.Fatal("the export under way outlived Shutdown")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !exp.isShut() {
			if time.Now().After(deadline) {
				t.Fatal("the exporter was never shut down")
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("a full queue drops spans", func(t *testing.T) {
		tp, b, exp := batcherProvider(t, batcherOptions{delay: time.Hour, timeout: time.Second, maxQueue: 8, maxBatch: 100})
		endSpans(tp, 12)
		if d := b.Dropped(); d != 4 {
			t.Fatalf("dropped %d, want 4", d)
		}
		_ = tp.ForceFlush(context.Background())
		if n := len(exp.GetSpans()); n != 8 {
			t.Fatalf("%d spans exported, want 8", n)
		}
	})
	t.Run("spans not sampled are not exported", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		b := newSpanBatcher(exp, batcherOptions{delay: time.Hour, timeout: time.Second, maxQueue: 100, maxBatch: 10})
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b), sdktrace.WithSampler(sdktrace.NeverSample()))
		endSpans(tp, 5)
		_ = tp.ForceFlush(context.Background())
		if n := len(exp.GetSpans()); n != 0 {
			t.Fatalf("%d unsampled spans exported", n)
		}
		_ = tp.Shutdown(context.Background())
	})
	t.Run("spans ended concurrently are each exported once", func(t *testing.T) {
		tp, b, exp := batcherProvider(t, batcherOptions{delay: time.Millisecond, timeout: time.Second, maxQueue: 100000, maxBatch: 16})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { endSpans(tp, 500) })
		}
		wg.Wait()
		_ = tp.ForceFlush(context.Background())
		seen := map[trace.SpanID]bool{}
		for _, s := range exp.GetSpans() {
			id := s.SpanContext.SpanID()
			if seen[id] {
				t.Fatalf("span %v exported twice", id)
			}
			seen[id] = true
		}
		if len(seen) != 4000 || b.Dropped() != 0 {
			t.Fatalf("%d spans exported, %d dropped, want 4000 and 0", len(seen), b.Dropped())
		}
	})
}

func TestBatcherOptionsFromEnv(t *testing.T) {
	env := func(m map[string]string) environment {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	if got := batcherOptionsFromEnv(env(nil)); got != defaultBatcherOptions {
		t.Errorf("no variables: %+v, want the SDK's defaults %+v", got, defaultBatcherOptions)
	}
	got := batcherOptionsFromEnv(env(map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BSP_EXPORT_TIMEOUT": "1000",
		"OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128"}))
	want := batcherOptions{delay: 200 * time.Millisecond, timeout: time.Second, maxQueue: 64, maxBatch: 64}
	if got != want {
		t.Errorf("variables set: %+v, want %+v (a batch no larger than the queue)", got, want)
	}
	if got := batcherOptionsFromEnv(env(map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "-3"})); got.maxQueue != defaultBatcherOptions.maxQueue {
		t.Errorf("a negative queue size gave %d", got.maxQueue)
	}
}

func sampledContext() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
}

// countingExporter counts the spans exported and records its Shutdown.
type countingExporter struct {
	mu      sync.Mutex
	n       int
	shut    bool
	release chan struct{} // when not nil, exports wait for it to be closed
	// honourCtx: an export waiting for release returns when its context ends, as OTLP's.
	honourCtx bool
	started   chan struct{} // when not nil, told of each export started
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.started != nil {
		select {
		case e.started <- struct{}{}:
		default:
		}
	}
	if e.release != nil {
		if !e.honourCtx {
			<-e.release
		} else {
			select {
			case <-e.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n += len(spans)
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shut = true
	return nil
}

func (e *countingExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *countingExporter) isShut() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.shut
}
