package sdk

import (
	"strings"
	"testing"
)

// Edits of every length up to past the short-string cases read back as written: putStr
// copies short strings with overlapping 8- and 4-byte stores.
func TestEditsOfEveryLengthReadBack(t *testing.T) {
	for n := range 40 {
		name := strings.Repeat("n", max(n, 1))
		value := strings.Repeat("v", n/2) + strings.Repeat("w", n-n/2)
		m := NewSendMessage("T", PropertiesOf("a", "b"), nil)
		m.SetProperty(name, value)
		m.DeleteProperty("a" + name)
		m.Reject(value)
		got := m.Edits()
		if len(got) != 3 || got[0].Name != name || got[0].Value != value || got[1].Name != "a"+name || got[2].Value != value {
			t.Fatalf("length %d: edits %+v", n, got)
		}
		if v := m.Property(name); v != value {
			t.Fatalf("length %d: Property = %q, want %q", n, v, value)
		}
	}
}

// Property finds names by length and bytes, the last of a repeated name winning.
func TestPropertyLookupComparesWholeNames(t *testing.T) {
	props := PropertiesOf("TAGS", "t", "KEYS", "k", "x-gateway-region", "eu", "x-gateway-regiom", "us", "KEYS", "k2", "a", "1")
	m := NewSendMessage("T", props, nil)
	for _, tc := range []struct{ name, want string }{
		{"TAGS", "t"}, {"KEYS", "k2"}, {"x-gateway-region", "eu"}, {"x-gateway-regiom", "us"},
		{"x-gateway-regioN", ""}, {"a", "1"}, {"b", ""}, {"TAG", ""}, {"", ""},
	} {
		if got := m.Property(tc.name); got != tc.want {
			t.Errorf("Property(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
