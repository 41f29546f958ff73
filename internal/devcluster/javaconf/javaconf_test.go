package javaconf

import (
	"maps"
	"testing"
)

func TestParseAsJava(t *testing.T) {
	for _, tc := range []struct {
		key  Key
		in   string
		want string
		ok   bool
	}{
		{Key{Kind: Int}, "+0042", "42", true},
		{Key{Kind: Int}, "abc", "", false},
		{Key{Kind: Int}, "3000000000", "", false},
		{Key{Kind: Long}, "3000000000", "3000000000", true},
		{Key{Kind: Bool}, "TRUE", "true", true},
		{Key{Kind: Bool}, "yes", "false", true},
		{Key{Kind: String}, "spaced ", "spaced ", true},
		{Key{Kind: Enum, Enum: []string{"SLAVE"}}, "SLAVE", "SLAVE", true},
		{Key{Kind: Enum, Enum: []string{"SLAVE"}}, "SLAVE ", "", false},
		{Key{Kind: Enum, Enum: []string{"SLAVE"}}, "BOGUS", "", false},
	} {
		if got, ok := tc.key.Parse(tc.in); ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%v %q: %q %v, want %q %v", tc.key.Kind, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseProperties(t *testing.T) {
	got := ParseProperties("# c\n! c\n\n  a=1\nb : 2 \nc 3\nd\ne=x=y\n")
	want := map[string]string{"a": "1", "b": "2 ", "c": "3", "d": "", "e": "x=y"}
	if !maps.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}
