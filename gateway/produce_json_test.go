package gateway

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// viaEncodingJSON is what the API decoded before fastProduce: encoding/json, strictly.
func viaEncodingJSON[T any](b []byte) (T, error) {
	var v T
	err := strictJSON(b, &v)
	return v, err
}

// asEncodingJSON gives req's body as encoding/json gives it, in Body.
func asEncodingJSON(req produceRequest) produceRequest {
	if req.bodySet {
		s := string(req.body)
		req.Body = &s
	}
	req.body, req.bodySet = nil, false
	return req
}

// checkFast fails t unless fast either declines b or decodes it as encoding/json does,
// once normalize (when not nil) has put what it decoded in encoding/json's terms; it
// reports whether fast accepted b.
func checkFast[T any](t *testing.T, b []byte, fast func([]byte, *T) bool, normalize func(*T)) bool {
	t.Helper()
	var got T
	if !fast(b, &got) {
		return false
	}
	want, err := viaEncodingJSON[T](b)
	if err != nil {
		t.Fatalf("accepted %q, which encoding/json refuses: %v", b, err)
	}
	if normalize != nil {
		normalize(&got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast          %#v\nencoding/json %#v", b, got, want)
	}
	return true
}

func checkFastProduce(t *testing.T, b []byte) bool {
	t.Helper()
	return checkFast(t, b, fastProduce, func(r *produceRequest) { *r = asEncodingJSON(*r) })
}

func checkFastBatch(t *testing.T, b []byte) bool {
	t.Helper()
	return checkFast(t, b, fastBatch, func(r *batchRequest) {
		for i := range r.Messages {
			r.Messages[i] = asEncodingJSON(r.Messages[i])
		}
	})
}

var produceJSONCases = []struct {
	name, body string
	fast       bool // read by fastProduce; else left to encoding/json
}{
	{"body only", `{"body": "hello"}`, true},
	{"every field", `{"body":"x","tags":"TagA","keys":["k1","k2"],"properties":{"a":"1","b":"2"},"delay_level":3,"sharding_key":"s"}`, true},
	{"base64 body", `{"body_base64": "eA=="}`, true},
	{"whitespace everywhere", " \t\n{ \"body\" : \"x\" , \"keys\" : [ ] , \"properties\" : { } }\r\n", true},
	{"empty object", `{}`, true},
	{"empty body", `{"body": ""}`, true},
	{"escapes", `{"body": "a\"b\\c\/d\b\f\n\r\t\u00e9\u4e2d\u0000"}`, true},
	{"UTF-8", `{"body": "héllo 中文 🎉", "tags": "é"}`, true},
	{"a property given twice keeps the last", `{"body": "x", "properties": {"a": "1", "a": "2"}}`, true},
	{"negative and zero delays", `{"body": "x", "delay_level": -0}`, true},
	{"long body", `{"body": "` + strings.Repeat("m", 1024) + `"}`, true},
	{"an escape after a long run", `{"body": "` + strings.Repeat("m", 100) + `\n"}`, true},

	{"a field name in another case", `{"Body": "x"}`, false},
	{"a field name with an escape", `{"bod\u0079": "x"}`, false},
	{"a field given twice", `{"body": "x", "body": "y"}`, false},
	{"null", `{"body": null}`, false},
	{"null keys", `{"body": "x", "keys": null}`, false},
	{"a surrogate pair", `{"body": "\ud83c\udf89"}`, false},
	{"a lone surrogate", `{"body": "\ud800"}`, false},
	{"invalid UTF-8", "{\"body\": \"\xff\"}", false},
	{"a control character", "{\"body\": \"a\x01b\"}", false},
	{"a fraction", `{"body": "x", "delay_level": 1.0}`, false},
	{"an exponent", `{"body": "x", "delay_level": 1e2}`, false},
	{"a leading zero", `{"body": "x", "delay_level": 01}`, false},
	{"a number too long", `{"body": "x", "delay_level": 1234567890123456789}`, false},
	{"an unknown field", `{"body": "x", "tag": "T"}`, false},
	{"a trailing comma", `{"body": "x",}`, false},
	{"two values", `{"body": "x"} {}`, false},
	{"truncated", `{"body": "x"`, false},
	{"an unterminated string", `{"body": "x}`, false},
	{"a bad escape", `{"body": "\x"}`, false},
	{"a short unicode escape", `{"body": "\u12"}`, false},
	{"a string for a list", `{"body": "x", "keys": "k"}`, false},
	{"a number for a string", `{"body": 1}`, false},
	{"empty", ``, false},
	{"not an object", `["x"]`, false},
}

// TestFastProduceDecodesAsEncodingJSON: the fast path takes the requests users send and
// decodes them as encoding/json does; what it declines is what it does not handle.
func TestFastProduceDecodesAsEncodingJSON(t *testing.T) {
	for _, tc := range produceJSONCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkFastProduce(t, []byte(tc.body)); got != tc.fast {
				t.Fatalf("fastProduce accepted %q: %v, want %v", tc.body, got, tc.fast)
			}
			batch := `{"messages": [` + tc.body + `, {"body": "y"}]}`
			if got := checkFastBatch(t, []byte(batch)); got != tc.fast {
				t.Fatalf("fastBatch accepted %q: %v, want %v", batch, got, tc.fast)
			}
		})
	}
	for _, batch := range []string{`{"messages": []}`, `{"messages": [{"body": "x"}]}`, " {\"messages\" :[ {\"body\":\"x\"} , {} ] } "} {
		if !checkFastBatch(t, []byte(batch)) {
			t.Errorf("fastBatch declined %q", batch)
		}
	}
	for _, batch := range []string{`{}`, `{"messages": null}`, `{"messages": [], "x": 1}`, `{"Messages": []}`, `{"messages": [{"body": "x"},]}`, `{"messages": [1]}`} {
		if checkFastBatch(t, []byte(batch)) {
			t.Errorf("fastBatch accepted %q", batch)
		}
	}
}

// TestFastProduceBodyIsNotAViewOfTheRequest: the request's buffer goes back to a pool,
// so the message must own its body.
func TestFastProduceBodyIsNotAViewOfTheRequest(t *testing.T) {
	b := []byte(`{"body": "hello", "tags": "T"}`)
	var req produceRequest
	if !fastProduce(b, &req) {
		t.Fatal("declined")
	}
	clear(b)
	if string(req.body) != "hello" || req.Tags != "T" {
		t.Fatalf("body %q, tags %q after the request's bytes were reused", req.body, req.Tags)
	}
}

func FuzzFastProduce(f *testing.F) {
	for _, tc := range produceJSONCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastProduce(t, b) })
}

func FuzzFastBatch(f *testing.F) {
	for _, tc := range produceJSONCases {
		f.Add([]byte(`{"messages": [` + tc.body + `]}`))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastBatch(t, b) })
}

// BenchmarkDecodeProduce: a request with a 1 KiB body, as BenchmarkHTTPProduce sends it.
//
//	go test -run '^$' -bench DecodeProduce -benchmem ./gateway
func BenchmarkDecodeProduce(b *testing.B) {
	body, _ := json.Marshal(map[string]any{"body": strings.Repeat("m", 1024), "tags": "TagA", "keys": []string{"k1"}})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req produceRequest
			if !fastProduce(body, &req) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req produceRequest
			if err := strictJSON(body, &req); err != nil {
				b.Fatal(err)
			}
			_ = []byte(*req.Body) // the message's copy, which the fast path makes as it reads
		}
	})
}
