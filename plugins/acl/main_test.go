package main

import (
	"strings"
	"testing"
)

// A misspelt key is refused, naming it: ignored, "securitytokn" sent requests without
// the token they needed. No configuration says what is wanted.
func TestConfigureRefusesUnknownKeys(t *testing.T) {
	for config, want := range map[string]string{
		`{"accessKey": "ak", "secretKey": "sk", "securityTokn": "t"}`:  `unknown field "securityTokn"`,
		`{"accessKey": "ak", "secretKey": "sk"}`:                       "",
		`{"accessKey": "ak", "secretKey": "sk", "securityToken": "t"}`: "",
		``: "accessKey and secretKey are required",
	} {
		err := configure([]byte(config))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("configure(%s) = %v, want an error about %q", config, err, want)
		}
	}
}
