package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestListsKeptOrCopied: a list a span can keep as it is (TestTracerMatchesSDK shows the
// result is the SDK's either way) is kept, not copied; one the limits or its contents
// change is copied, and the caller's list left as it was.
func TestListsKeptOrCopied(t *testing.T) {
	slice := attribute.StringSlice("keys", []string{"k1", "k2"})
	for _, c := range []struct {
		name        string
		kv          []attribute.KeyValue
		lengthLimit int
		kept        bool
	}{
		{"strings", []attribute.KeyValue{attribute.String("a", "abc"), attribute.Int("n", 1)}, -1, true},
		{"strings within the length limit", []attribute.KeyValue{attribute.String("a", "abc")}, 3, true},
		{"a string over the length limit", []attribute.KeyValue{attribute.String("a", "abcd")}, 3, false},
		{"a string slice, no length limit", []attribute.KeyValue{attribute.String("a", "abc"), slice}, -1, true},
		{"a string slice, a length limit", []attribute.KeyValue{attribute.String("a", "abc"), slice}, 64, false},
		{"an empty value", []attribute.KeyValue{{Key: "empty"}}, -1, true},
		{"a byte slice", []attribute.KeyValue{attribute.ByteSlice("b", []byte("x"))}, -1, false},
		{"no key", []attribute.KeyValue{attribute.String("a", "abc"), {Value: attribute.StringValue("x")}}, -1, false},
	} {
		limits := sdktrace.NewSpanLimits()
		limits.AttributeValueLengthLimit = c.lengthLimit
		p := newTracerProvider(resource.Empty(), sdktrace.AlwaysSample(), nil)
		p.limits = limits
		tr := p.Tracer("test")
		for _, set := range []struct {
			name string
			set  func(*span, []attribute.KeyValue)
		}{
			{"owned", func(s *span, kv []attribute.KeyValue) { SetOwnedAttributes(s, kv) }},
			{"list", func(s *span, kv []attribute.KeyValue) { SetAttributeList(s, NewAttributeList(kv...)) }},
		} {
			kv := append([]attribute.KeyValue(nil), c.kv...)
			_, s := tr.Start(context.Background(), "s")
			sp := s.(*span)
			set.set(sp, kv)
			if kept := len(sp.attrs) > 0 && &sp.attrs[0] == &kv[0]; kept != c.kept {
				t.Errorf("%s, %s: kept %v, want %v", c.name, set.name, kept, c.kept)
			}
			if !attributesEqual(kv, c.kv) {
				t.Errorf("%s, %s: the caller's list changed to %v", c.name, set.name, kv)
			}
			s.End()
		}
	}
}

func attributesEqual(a, b []attribute.KeyValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value.String() != b[i].Value.String() || a[i].Value.Type() != b[i].Value.Type() {
			return false
		}
	}
	return true
}

func BenchmarkPlain(b *testing.B) {
	kv := []attribute.KeyValue{SystemRocketMQ, KeyDestinationName.String("topic"), KeyOperationV124.String("publish"),
		KeyClientGroupV124.String("group"), KeyMessageID.String("0123456789ABCDEF0123456789ABCDEF"),
		KeyTagV124.String("TagA"), KeyMessageTypeV124.String("normal")}
	for b.Loop() {
		if ok, _ := plain(kv); !ok {
			b.Fatal("not plain")
		}
	}
}
