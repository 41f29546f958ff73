package jsonconfig

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type config struct {
		Tags    []string `json:"tags"`
		Exclude bool     `json:"exclude"`
	}
	for _, tt := range []struct {
		in   string
		want string // a part of the error, "" to be accepted
	}{
		{`{"tags": ["a"], "exclude": true}`, ""},
		{`{"Tags": ["a"]}`, ""}, // keys match as json.Unmarshal matches them
		{"", ""},
		{" \n", ""},
		{`{"tags": ["a"], "exlude": true}`, `unknown field "exlude"`},
		{`{"tags": "a"}`, "tags"},
		{`{"tags": ["a"]} {}`, "data after"},
		{`{"tags": ["a"]`, "EOF"},
		{`[`, "EOF"},
	} {
		var c config
		err := Decode([]byte(tt.in), &c)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Decode(%q): %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Decode(%q) = %v, want an error about %q", tt.in, err, tt.want)
		}
	}
}
