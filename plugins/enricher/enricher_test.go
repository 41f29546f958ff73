package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/sdk"
)

func TestEnricherAddsInNameOrder(t *testing.T) {
	if err := configure([]byte(`{"properties": {"x-b": "2", "x-a": "1"}}`)); err != nil {
		t.Fatal(err)
	}
	m := sdk.NewSendMessage("T", sdk.PropertiesOf("x-b", "kept"), nil)
	if err := before(m); err != nil {
		t.Fatal(err)
	}
	want := []sdk.Edit{{Op: sdk.SetProperty, Name: "x-a", Value: "1"}}
	if got := m.Edits(); !slices.EqualFunc(got, want, func(a, b sdk.Edit) bool {
		return a.Op == b.Op && a.Name == b.Name && a.Value == b.Value
	}) {
		t.Fatalf("edits %v, want %v (x-b exists and overwrite is off)", got, want)
	}
}

func TestEnricherOverwrites(t *testing.T) {
	e, err := NewEnricher(map[string]string{"x-b": "2"}, true)
	if err != nil {
		t.Fatal(err)
	}
	m := sdk.NewSendMessage("T", sdk.PropertiesOf("x-b", "old"), nil)
	e.Apply(m)
	if m.Property("x-b") != "2" {
		t.Fatalf("x-b = %q", m.Property("x-b"))
	}
}

func TestEnricherRefusesBadConfig(t *testing.T) {
	for _, c := range []string{`{}`, `{"properties": {"a": ""}}`, `{"properties": {"a\u0001": "v"}}`, `[`} {
		if err := configure([]byte(c)); err == nil {
			t.Errorf("config %s accepted", c)
		}
	}
}

// A system property the host would refuse at every message (TRAN_MSG: the send would be
// a transaction's half nothing commits) is refused at load, naming it; KEYS, TAGS and
// user properties are taken.
func TestEnricherRefusesSystemProperties(t *testing.T) {
	for _, name := range []string{"TRAN_MSG", "UNIQ_KEY", "REAL_TOPIC", "DELAY", "WAIT"} {
		err := configure([]byte(`{"properties": {"` + name + `": "v"}}`))
		if err == nil || !strings.Contains(err.Error(), "property "+name+": a system property") {
			t.Errorf("%s: %v, want an error naming it", name, err)
		}
	}
	for _, name := range []string{"KEYS", "TAGS", "x-gateway"} {
		if err := configure([]byte(`{"properties": {"` + name + `": "v"}}`)); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
}

// A configuration the host would refuse at every message (more edits of one message than
// ABI.md §6 allows) is refused at load instead; the most it takes works.
func TestEnricherTakesAtMostTheEditsTheHostDoes(t *testing.T) {
	props := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("x-%03d", i)] = "v"
		}
		return m
	}
	if _, err := NewEnricher(props(maxProperties+1), false); err == nil {
		t.Fatalf("%d properties accepted", maxProperties+1)
	}
	e, err := NewEnricher(props(maxProperties), false)
	if err != nil {
		t.Fatal(err)
	}
	m := sdk.NewSendMessage("T", sdk.PropertiesOf(), nil)
	e.Apply(m)
	if n := len(m.Edits()); n != maxProperties {
		t.Fatalf("%d edits, want %d", n, maxProperties)
	}
}

// Apply's lookups do not read its own edits again (the names are distinct): reading them
// at every name made it quadratic, and a 64-property enricher overran the hook deadline
// on every 32-message batch.
func TestEnricherApplyIsLinearInItsProperties(t *testing.T) {
	props := map[string]string{}
	for i := range 64 {
		props[fmt.Sprintf("x-%03d", i)] = "v"
	}
	e, err := NewEnricher(props, false)
	if err != nil {
		t.Fatal(err)
	}
	setup := testing.AllocsPerRun(20, func() { sdk.NewSendMessage("T", sdk.PropertiesOf("a", "b"), nil) })
	all := testing.AllocsPerRun(20, func() { e.Apply(sdk.NewSendMessage("T", sdk.PropertiesOf("a", "b"), nil)) })
	if apply := all - setup; apply > 8 {
		t.Fatalf("Apply of 64 properties: %.0f allocations, want a few (its edits' buffer)", apply)
	}
}

// A misspelt key is refused, naming it: ignored, "overwite" left every message's own
// value in place. No configuration says what is wanted.
func TestConfigureRefusesUnknownKeys(t *testing.T) {
	for config, want := range map[string]string{
		`{"properties": {"x": "1"}, "overwite": true}`: `unknown field "overwite"`,
		`{"property": {"x": "1"}}`:                     `unknown field "property"`,
		``:                                             `no properties: want {"properties"`,
	} {
		if err := configure([]byte(config)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configure(%s) = %v, want an error about %s", config, err, want)
		}
	}
}
