package remoting

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestNormalizeJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"standard JSON passes through", `{"a":[1,2.5,true,null,"x"]}`, `{"a":[1,2.5,true,null,"x"]}`},
		{"bare numeric keys are quoted", `{"brokerAddrs":{0:"a:1",1:"b:2"}}`, `{"brokerAddrs":{"0":"a:1","1":"b:2"}}`},
		{"negative and identifier keys are quoted", `{-1:"x",abc_1:2}`, `{"-1":"x","abc_1":2}`},
		{"whitespace is dropped", "{ 0 : \"a\" ,\n 1:\"b\" }", `{"0":"a","1":"b"}`},
		{"an object key becomes a string of its JSON",
			`{{"brokerName":"b","queueId":1,"topic":"T"}:5}`,
			`{"{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}":5}`},
		{"an object key is normalised itself", `{{"x":{0:1}}:2}`, `{"{\"x\":{\"0\":1}}":2}`},
		{"braces and colons inside strings are text", `{0:"{a:b}"}`, `{"0":"{a:b}"}`},
		{"escaped quotes inside strings are kept", `{0:"a\"}"}`, `{"0":"a\"}"}`},
		{"single-quoted strings become double-quoted", `{'a':'it\'s "x"'}`, `{"a":"it's \"x\""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizeJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not JSON: %s", got)
			}
		})
	}
}

func TestNormalizeJSONRejects(t *testing.T) {
	tests := []struct {
		name, in, text string
	}{
		{"unterminated string", `{0:"abc`, "unterminated string"},
		{"missing colon", `{0 "a"}`, "expected ':'"},
		{"missing value", `{0:}`, "unexpected '}'"},
		{"unterminated array", `[1,2`, "unterminated array"},
		{"nesting beyond the limit", strings.Repeat(`{0:`, maxBodyDepth+2), "nested deeper"},
		{"a key that is no key", `{:1}`, "expected a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := normalizeJSON([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %v, want one saying %q", err, tt.text)
			}
		})
	}
}

func TestFastjsonStringEscaping(t *testing.T) {
	tests := []struct {
		name, in, def, std string
	}{
		{"plain ASCII", "broker-a:10911", `"broker-a:10911"`, `"broker-a:10911"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`, `"a\"b\\c"`},
		{"slash is escaped only when browser compatible", "a/b", `"a/b"`, `"a\/b"`},
		{"short escapes", "\b\t\n\f\r", `"\b\t\n\f\r"`, `"\b\t\n\f\r"`},
		{"other controls as upper-case \\u00XX", "\x00\x0b\x1f", `"\u0000\u000B\u001F"`, `"\u0000\u000B\u001F"`},
		{"DEL and C1 controls", "\x7f\u0085", `"\u007F\u0085"`, `"\u007F\u0085"`},
		{"Latin-1 and beyond", "ü€", `"ü€"`, `"\u00FC\u20AC"`},
		{"line and paragraph separators", "\u2028\u2029", `"\u2028\u2029"`, `"\u2028\u2029"`},
		{"supplementary characters as surrogate pairs", "😀", `"😀"`, `"\uD83D\uDE00"`},
		{"invalid UTF-8 as U+FFFD", "a\xffb", "\"a\uFFFDb\"", `"a\uFFFDb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendFastjsonString(nil, tt.in, styleDefault)); got != tt.def {
				t.Errorf("default %s, want %s", got, tt.def)
			}
			if got := string(appendFastjsonString(nil, tt.in, styleStandard)); got != tt.std {
				t.Errorf("standard %s, want %s", got, tt.std)
			}
			var back string
			if err := json.Unmarshal(appendFastjsonString(nil, tt.in, styleStandard), &back); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tt.in, "\xff") && back != tt.in {
				t.Errorf("reads back as %q", back)
			}
		})
	}
}

// Java's Double.toString, which fastjson's RyuDouble follows.
func TestJavaDouble(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{100, "100.0"},
		{-2.5, "-2.5"},
		{0.1, "0.1"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{1234567, "1234567.0"},
		{1e7, "1.0E7"},
		{12345678.9, "1.23456789E7"},
		{1.5e300, "1.5E300"},
		{1.0 / 3, "0.3333333333333333"},
		{math.NaN(), "null"},
		{math.Inf(1), "null"},
	}
	for _, tt := range tests {
		if got := string(appendJavaDouble(nil, tt.in)); got != tt.want {
			t.Errorf("appendJavaDouble(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestJavaTableSizes(t *testing.T) {
	tests := []struct {
		name  string
		table javaTable
		n     int
		want  uint32
	}{
		{"default HashMap", javaTable{}, 1, 16},
		{"default HashMap past 12 keys", javaTable{}, 13, 32},
		{"HashMap(128)", javaTable{initial: 128}, 5, 128},
		{"ConcurrentHashMap(1024)", javaTable{initial: 1024, concurrent: true}, 10, 2048},
		{"ConcurrentHashMap resizes at 3/4", javaTable{concurrent: true}, 12, 32},
		{"putAll of 2 into a ConcurrentHashMap", javaTable{concurrent: true, putAll: true}, 2, 8},
	}
	for _, tt := range tests {
		if got := tt.table.size(tt.n); got != tt.want {
			t.Errorf("%s with %d keys: %d, want %d", tt.name, tt.n, got, tt.want)
		}
	}
}
