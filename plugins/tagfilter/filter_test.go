package main

import (
	"strings"
	"testing"

	"github.com/mqgate/mqgate/sdk"
)

func TestFilter(t *testing.T) {
	for _, tt := range []struct {
		tags    []string
		exclude bool
		tag     string
		want    bool
	}{
		{[]string{"A", "B"}, false, "A", true},
		{[]string{"A", "B"}, false, "C", false},
		{[]string{"A", "B"}, false, "", false},
		{[]string{"A"}, true, "A", false},
		{[]string{"A"}, true, "C", true},
		{[]string{"*"}, false, "anything", true},
		{[]string{"*"}, false, "", true}, // RocketMQ's "*" takes untagged messages too
		{[]string{""}, false, "", true},
		{[]string{""}, false, "A", false},
		{[]string{""}, true, "A", true},
		// Each entry is read as a RocketMQ subscription expression is
		// (FilterAPI.buildSubscriptionData): tags joined by "||", blanks around them
		// trimmed. A subscription moved over as written must not skip what it took.
		{[]string{"TagA || TagB"}, false, "TagB", true},
		{[]string{"TagA||TagB"}, false, "TagA", true},
		{[]string{"TagA || TagB"}, false, "TagA || TagB", false},
		{[]string{"TagA || TagB"}, false, "", false},
		{[]string{" paid\t"}, false, "paid", true},
		{[]string{"TagA || TagB"}, true, "TagB", false},
		{[]string{"TagA || TagB"}, true, "TagC", true},
		{[]string{"TagA ||"}, false, "TagA", true},
		{[]string{"TagA || *"}, false, "", true},
	} {
		f, err := NewFilter(tt.tags, tt.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Deliver(tt.tag); got != tt.want {
			t.Errorf("tags %q exclude %v: Deliver(%q) = %v, want %v", tt.tags, tt.exclude, tt.tag, got, tt.want)
		}
	}
}

// An entry naming no tag, blanks or "||" only, is refused at load: it would skip
// everything it was meant to deliver. So is "*" excluded: every message skipped.
func TestFilterRefusesFiltersSkippingEverything(t *testing.T) {
	for _, tt := range []struct {
		tags    []string
		exclude bool
	}{
		{[]string{" "}, false},
		{[]string{"||"}, false},
		{[]string{"TagA", " || "}, false},
		{[]string{"*"}, true},
		{[]string{"TagA", " * "}, true},
		{[]string{"TagA || *"}, true},
	} {
		if _, err := NewFilter(tt.tags, tt.exclude); err == nil {
			t.Errorf("tags %q exclude %v accepted", tt.tags, tt.exclude)
		}
	}
}

func TestHookSkipsOtherTags(t *testing.T) {
	if err := configure([]byte(`{"tags": ["paid"]}`)); err != nil {
		t.Fatal(err)
	}
	for tag, skip := range map[string]bool{"paid": false, "created": true} {
		m := sdk.NewConsumedMessage(sdk.PropertiesOf("TAGS", tag), nil)
		if err := before(&sdk.ConsumeContext{}, m); err != nil {
			t.Fatal(err)
		}
		if (m.Verdict() == sdk.Skip) != skip {
			t.Errorf("tag %q: verdict %v", tag, m.Verdict())
		}
	}
	if err := configure([]byte(`{}`)); err == nil {
		t.Error("a filter without tags must be refused at load")
	}
}

// A misspelt key is refused, naming it: ignored, "exlude" made the filter deliver the
// listed tags only and skip every other message. No configuration says what is wanted, and
// one that skips every message is not wanted.
func TestConfigureRefusesMistakes(t *testing.T) {
	for config, want := range map[string]string{
		`{"tags": ["debug"], "exlude": true}`: `unknown field "exlude"`,
		``:                                    `no tags: want {"tags"`,
		`{"tags": ["*"], "exclude": true}`:    `skips every message`,
	} {
		if err := configure([]byte(config)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configure(%s) = %v, want an error about %s", config, err, want)
		}
	}
}
