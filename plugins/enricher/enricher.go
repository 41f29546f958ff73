package main

import (
	"errors"
	"fmt"
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
	if len(props) > maxProperties {
		return Enricher{}, fmt.Errorf("%d properties: at most %d (the host refuses more edits of one message)", len(props), maxProperties)
	}
	e := Enricher{overwrite: overwrite}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		v := props[name]
		if name == "" || v == "" || strings.ContainsAny(name+v, "\x01\x02") {
			return Enricher{}, errors.New("property " + name + ": names and values must be non-empty, without 0x01 or 0x02")
		}
		if !sdk.MayEditProperty(name) {
			return Enricher{}, errors.New("property " + name + ": a system property; a hook may set user properties, KEYS and TAGS")
		}
		e.names = append(e.names, name)
		e.values = append(e.values, v)
	}
	return e, nil
}

// maxProperties is the most edits of one message a hook's answer may make (ABI.md §6).
const maxProperties = 256

// Apply sets the properties on m. (A *sdk.SendMessage rather than an interface: a
// dynamic call costs more than the lookup it makes in WebAssembly.) Once it has edited
// m, it looks names up in the properties m came with: the names being distinct, its own
// edits cannot hold them, and m.Property would read those edits again at every name,
// quadratic in the names. Before, m.Property's lookup is the cheaper.
func (e *Enricher) Apply(m *sdk.SendMessage) {
	if e.overwrite {
		for i, name := range e.names {
			m.SetProperty(name, e.values[i])
		}
		return
	}
	edited := false
	for i, name := range e.names {
		v := ""
		if edited {
			v = m.Properties().Get(name)
		} else {
			v = m.Property(name)
		}
		if v == "" {
			m.SetProperty(name, e.values[i])
			edited = true
		}
	}
}
