package main

import (
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
		{[]string{"*"}, true, "A", false},
		{[]string{"*"}, true, "", false},
		{[]string{""}, true, "A", true},
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
