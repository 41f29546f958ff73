package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/sdk"
)

func TestRedact(t *testing.T) {
	r, err := NewRedactor([]string{"password", "card"}, "***")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, in, want string // want "" means untouched
	}{
		{"top-level string", `{"user":"ann","password":"hunter2"}`, `{"user":"ann","password":"***"}`},
		{"nested and in arrays", `{"a":[{"password":1},{"b":{"card":{"n":"4111"}}}]}`,
			`{"a":[{"password":"***"},{"b":{"card":"***"}}]}`},
		{"whitespace kept", "{ \"password\" :\n \"x\" , \"k\": true }", "{ \"password\" :\n \"***\" , \"k\": true }"},
		{"escaped key matches", `{"pass\u0077ord":"x"}`, `{"pass\u0077ord":"***"}`},
		{"a value that looks like a key is not a key", `{"note":"password","x":["card"]}`, ""},
		{"nothing to redact", `{"user":"ann"}`, ""},
		{"not JSON", `password=hunter2`, ""},
		{"truncated JSON", `{"password":"x"`, ""},
		{"trailing garbage", `{"password":"x"} extra`, ""},
		// JSON Lines: a batch of records in one message. Read as one text, with garbage
		// after the first, it went out with every record's secrets.
		{"JSON lines", "{\"password\":\"a\"}\n{\"user\":\"b\"}\n{\"card\":\"c\"}\n",
			"{\"password\":\"***\"}\n{\"user\":\"b\"}\n{\"card\":\"***\"}\n"},
		{"JSON lines with CRLF and blank lines", "{\"password\":1}\r\n\r\n[{\"card\":2}]\r\n", "{\"password\":\"***\"}\r\n\r\n[{\"card\":\"***\"}]\r\n"},
		{"JSON lines, a secret only in the last", "1\n\"s\"\n{\"password\":true}", "1\n\"s\"\n{\"password\":\"***\"}"},
		{"JSON lines with a line that is not JSON", "{\"password\":\"a\"}\nnot json\n", ""},
		{"texts not apart", `{"password":"a"}{"password":"b"}`, ""},
		{"top-level array", `[{"card":null}]`, `[{"card":"***"}]`},
		// A redacted field under a redacted field: the outer value is replaced whole (the
		// inner replacement, written first, made it panic and deliver the secret).
		{"redacted under redacted", `{"password":{"password":"x"},"k":1}`, `{"password":"***","k":1}`},
		{"redacted in an array under redacted", `{"card":[{"card":1},{"password":2}]}`, `{"card":"***"}`},
		{"as deep as scanned", strings.Repeat("[", maxDepth-1) + `{"password":1}` + strings.Repeat("]", maxDepth-1),
			strings.Repeat("[", maxDepth-1) + `{"password":"***"}` + strings.Repeat("]", maxDepth-1)},
		// A byte order mark, which RFC 8259 lets a parser ignore and Jackson's and
		// fastjson's do: read as not JSON, the body went out with its secrets.
		{"byte order mark", "\xEF\xBB\xBF{\"password\":\"x\"}", "\xEF\xBB\xBF{\"password\":\"***\"}"},
		{"byte order mark and blanks", "\xEF\xBB\xBF \n{\"password\":1}\n", "\xEF\xBB\xBF \n{\"password\":\"***\"}\n"},
		{"byte order mark alone", "\xEF\xBB\xBF", ""},
		{"byte order mark not first", " \xEF\xBB\xBF{\"password\":1}", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := r.Redact(nil, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if changed || len(got) != 0 {
					t.Fatalf("changed to %s", got)
				}
				return
			}
			if !changed || string(got) != tt.want {
				t.Fatalf("got %s (changed %v), want %s", got, changed, tt.want)
			}
			if !validTexts(got) {
				t.Fatalf("output is not JSON: %s", got)
			}
		})
	}
}

// A body nested too deep to scan is not known to be free of the fields: ErrTooDeep, not
// passed as if it were (it was delivered as it came, whatever lay below the depth).
func TestRedactRefusesABodyTooDeepToScan(t *testing.T) {
	r, _ := NewRedactor([]string{"password"}, "***")
	for _, body := range []string{
		strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2),
		strings.Repeat(`{"a":`, maxDepth+1) + `{"password":"x"}` + strings.Repeat("}", maxDepth+1),
	} {
		if got, changed, err := r.Redact(nil, []byte(body)); err != ErrTooDeep || changed || len(got) != 0 {
			t.Errorf("%.20s...: %q, %v, %v; want ErrTooDeep", body, got, changed, err)
		}
	}
}

func TestRedactNothingAllocatesNothing(t *testing.T) {
	r, _ := NewRedactor([]string{"password"}, "***")
	body := []byte(`{"user":"ann","items":[1,2,3],"note":"a fairly long string with no secrets"}`)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = r.Redact(nil, body) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// A body too deep to scan fails the hook, naming the message: the slot's policy decides
// (policy "fail" consumes the batch again later) rather than the plugin passing it.
func TestHookFailsABodyTooDeepToScan(t *testing.T) {
	if err := configure([]byte(`{"fields":["password"]}`)); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("[", maxDepth+1) + `{"password":"x"}` + strings.Repeat("]", maxDepth+1)
	m := sdk.NewConsumedMessage(sdk.PropertiesOf(sdk.PropertyUniqKey, "ID1"), []byte(body))
	if err := before(&sdk.ConsumeContext{}, m); !errors.Is(err, ErrTooDeep) || !strings.Contains(err.Error(), "ID1") {
		t.Fatalf("before = %v, want ErrTooDeep naming the message", err)
	}
	if len(m.Edits()) != 0 {
		t.Fatalf("edits %+v", m.Edits())
	}
}

func TestHookRewritesTheBody(t *testing.T) {
	if err := configure([]byte(`{"fields":["ssn"],"replacement":"[redacted]"}`)); err != nil {
		t.Fatal(err)
	}
	m := sdk.NewConsumedMessage(sdk.PropertiesOf(), []byte(`{"ssn":"123-45-6789"}`))
	if err := before(&sdk.ConsumeContext{}, m); err != nil {
		t.Fatal(err)
	}
	if e := m.Edits(); len(e) != 1 || e[0].Op != sdk.SetBody || string(e[0].Body) != `{"ssn":"[redacted]"}` {
		t.Fatalf("edits %+v", e)
	}
}

// The replacement is written as a JSON string, whatever its characters: Go's quoting
// (\a, \x01, \U000e0001) would make every redacted body invalid JSON.
func TestReplacementIsQuotedAsJSON(t *testing.T) {
	for _, repl := range []string{"\a", "\x01", "\x7f", "\xff", "\U000E0001", `"q"`, "</>"} {
		r, err := NewRedactor([]string{"password"}, repl)
		if err != nil {
			t.Fatal(err)
		}
		got, changed, _ := r.Redact(nil, []byte(`{"password":"x"}`))
		var v struct{ Password string }
		if !changed || json.Unmarshal(got, &v) != nil || v.Password != strings.ToValidUTF8(repl, "\uFFFD") {
			t.Errorf("replacement %q: output %s", repl, got)
		}
	}
}

func FuzzRedact(f *testing.F) {
	f.Add([]byte(`{"password":"x","a":[{"password":{"b":1}}]}`))
	f.Add([]byte(`{"password":{"password":[{"password":1}]}}`))
	f.Add([]byte(`{"pass\u0077ord":"\ud83d\ude00"}`))
	f.Add([]byte("\xEF\xBB\xBF{\"password\":[1]}"))
	f.Add([]byte("{\"password\":1}\n{\"password\":2}\n"))
	r, _ := NewRedactor([]string{"password"}, "***")
	f.Fuzz(func(t *testing.T, body []byte) {
		out, changed, err := r.Redact(nil, body)
		if err != nil && changed {
			t.Fatalf("%q: changed and failed (%v)", body, err)
		}
		if changed && (!validTexts(out) || bytes.HasPrefix(body, bom) != bytes.HasPrefix(out, bom)) {
			t.Fatalf("redacted %q into invalid JSON %q", body, out)
		}
		if changed && !validTexts(body) {
			t.Fatalf("changed invalid JSON %q", body)
		}
	})
}

// validTexts reports whether b (after a byte order mark) is one JSON text or several,
// whitespace apart, as encoding/json's Decoder reads a stream.
func validTexts(b []byte) bool {
	b = bytes.TrimPrefix(b, bom)
	if len(bytes.TrimSpace(b)) == 0 {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var v json.RawMessage
		switch err := dec.Decode(&v); {
		case err == io.EOF:
			return true
		case err != nil:
			return false
		}
	}
}

// A misspelt key is refused, naming it: ignored, "replacment" put "***" where the
// configuration said otherwise. No configuration says what is wanted.
func TestConfigureRefusesUnknownKeys(t *testing.T) {
	for config, want := range map[string]string{
		`{"fields": ["ssn"], "replacment": "[x]"}`: `unknown field "replacment"`,
		``: `no fields: want {"fields"`,
	} {
		if err := configure([]byte(config)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configure(%s) = %v, want an error about %s", config, err, want)
		}
	}
}
