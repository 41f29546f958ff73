package main

import (
	"slices"
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
