package main

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/mqgate/mqgate/sdk"
)

// Enricher adds fixed properties to messages.
type Enricher struct {
	names, values []string // sorted by name, so every message gets them in one order
	overwrite     bool
}

// NewEnricher returns an Enricher of props. Names and values must not contain the
// property separators 0x01 and 0x02, and must not be empty (RocketMQ drops such pairs).
func NewEnricher(props map[string]string, overwrite bool) (Enricher, error) {
	if len(props) == 0 {
		return Enricher{}, errors.New(`no properties: want {"properties": {"name": "value"}}`)
	}
	e := Enricher{overwrite: overwrite}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		v := props[name]
		if name == "" || v == "" || strings.ContainsAny(name+v, "\x01\x02") {
			return Enricher{}, errors.New("property " + name + ": names and values must be non-empty, without 0x01 or 0x02")
		}
		e.names = append(e.names, name)
		e.values = append(e.values, v)
	}
	return e, nil
}

// Apply sets the properties on m. (A *sdk.SendMessage rather than an interface: a
// dynamic call costs more than the lookup it makes in WebAssembly.)
func (e *Enricher) Apply(m *sdk.SendMessage) {
	for i, name := range e.names {
		if e.overwrite || m.Property(name) == "" {
			m.SetProperty(name, e.values[i])
		}
	}
}
