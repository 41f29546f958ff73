package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

// handleResult is an item of an ack's answer, as encoding/json wrote it.
type handleResult struct {
	ReceiptHandle string `json:"receipt_handle"`
	Result        string `json:"result"`
}

// The shapes the API documents take the fast way; what they do not, encoding/json's.
func TestFastReceiveAndHandles(t *testing.T) {
	for _, tc := range []struct {
		body     string
		accepted bool
	}{
		{`{"max": 32, "wait_ms": 20000, "invisible_ms": 30000}`, true},
		{` { "max" :1 } `, true},
		{`{}`, true},
		{`{"wait_ms": 0}`, true},
		{`{"max": -1}`, true}, // out of range: the handler's check answers it
		{`{"max": 1, "max": 2}`, false},
		{`{"Max": 1}`, false}, // encoding/json folds case
		{`{"max": 1.5}`, false},
		{`{"max": null}`, false},
		{`{"max": 1}{}`, false},
		{`{"max": 1,}`, false},
		{`{"count": 1}`, false},
		{`[]`, false},
	} {
		if got := checkFast(t, []byte(tc.body), fastReceive, nil); got != tc.accepted {
			t.Errorf("receive %s: accepted %v, want %v", tc.body, got, tc.accepted)
		}
	}
	for _, tc := range []struct {
		body     string
		accepted bool
	}{
		{`{"receipt_handles": ["a", "b"]}`, true},
		{`{"receipt_handles": ["a\"\\\n\u00e9"], "delay_level": 3}`, true},
		{`{"delay_level": -1, "receipt_handles": []}`, true},
		{`{}`, true},
		{`{"receipt_handles": null}`, false},
		{`{"receipt_handles": ["a"], "receipt_handles": ["b"]}`, false},
		{`{"receipt_handles": [1]}`, false},
		{`{"receipt_handles": ["\ud800"]}`, false}, // a lone surrogate: encoding/json replaces it
		{`{"receipt_handles": ["a"]} x`, false},
		{`{"handles": ["a"]}`, false},
	} {
		if got := checkFast(t, []byte(tc.body), fastHandles, nil); got != tc.accepted {
			t.Errorf("handles %s: accepted %v, want %v", tc.body, got, tc.accepted)
		}
	}
}

func FuzzFastReceive(f *testing.F) {
	for _, s := range []string{`{"max": 32, "wait_ms": 20000, "invisible_ms": 30000}`, `{}`, `{"max": 1, "max": 2}`, `{"max": -0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFast(t, b, fastReceive, nil) })
}

func FuzzFastHandles(f *testing.F) {
	for _, s := range []string{`{"receipt_handles": ["a", "b"]}`, `{"receipt_handles": ["a\"\\\n\u00e9"], "delay_level": 3}`, `{"receipt_handles": []}`} {
		f.Add([]byte(s), "ok")
	}
	f.Fuzz(func(t *testing.T, b []byte, result string) {
		if !checkFast(t, b, fastHandles, nil) {
			return
		}
		var req handlesRequest
		fastHandles(b, &req)
		results := make([]string, len(req.ReceiptHandles))
		items := make([]handleResult, len(req.ReceiptHandles))
		for i, h := range req.ReceiptHandles {
			results[i] = result
			items[i] = handleResult{h, result}
		}
		sameJSON(t, appendHandleResults(nil, req.ReceiptHandles, results), struct {
			Results []handleResult `json:"results"`
		}{items})
	})
}

// The ack's answer is the JSON value encoding/json wrote.
func TestHandleResultsAsEncodingJSON(t *testing.T) {
	handles := []string{"AAAA", "a\"b\\c\n<&>\u2028é\x01", "x\xffy", strings.Repeat("h", 100)}
	results := []string{"ok", "expired", "unknown", "ok"}
	items := make([]handleResult, len(handles))
	for i := range handles {
		items[i] = handleResult{handles[i], results[i]}
	}
	type answer struct {
		Results []handleResult `json:"results"`
	}
	sameJSON(t, appendHandleResults(nil, handles, results), answer{items})
	sameJSON(t, appendHandleResults(nil, nil, nil), answer{[]handleResult{}})
}

// BenchmarkAck: an ack of 32 handles read and answered, the fast way and encoding/json's.
//
//	go test -run '^$' -bench Ack -benchmem ./gateway
func BenchmarkAck(b *testing.B) {
	handles := make([]string, 32)
	results := make([]string, 32)
	for i := range handles {
		handles[i] = strings.Repeat("AbCd", 11) + string(rune('A'+i%26))
		results[i] = "ok"
	}
	body, _ := json.Marshal(handlesRequest{ReceiptHandles: handles})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req handlesRequest
			if !fastHandles(body, &req) {
				b.Fatal("declined")
			}
			buf := getBuf()
			buf.b = appendHandleResults(buf.b, req.ReceiptHandles, results)
			buf.free()
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req handlesRequest
			if err := strictJSON(body, &req); err != nil {
				b.Fatal(err)
			}
			out := make([]handleResult, len(req.ReceiptHandles))
			for i := range out {
				out[i] = handleResult{req.ReceiptHandles[i], results[i]}
			}
			if _, err := json.Marshal(struct {
				Results []handleResult `json:"results"`
			}{out}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
