package gateway

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// The strict loading of arrays of tables, [[plugin]] and [[admin.token]], whose elements
// checkTypes cannot reach (a key path names every element at once), and the positions
// and secrets of their elements.

// lineError is an error and the line it is about, to report the first of several.
type lineError struct {
	line int
	err  error
}

// checkArrayTypes reports the first value, by line, of an element of an array of tables
// whose type does not fit its field.
func (f *fileErrors) checkArrayTypes(raw map[string]any) error {
	var found []lineError
	f.walkArrays(configType, raw, nil, &found)
	if len(found) == 0 {
		return nil
	}
	first := found[0]
	for _, e := range found[1:] {
		if e.line < first.line {
			first = e
		}
	}
	return first.err
}

func (f *fileErrors) walkArrays(t reflect.Type, m map[string]any, path toml.Key, found *[]lineError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	exact := func(a, b string) bool { return a == b }
	for k, v := range m {
		sf, ok := tomlField(t, k, exact)
		if !ok {
			continue // unknownKeys reports it
		}
		key := append(append(toml.Key(nil), path...), k)
		switch ft := sf.Type; {
		case isTableArray(ft):
			f.walkInside(ft, v, key, found)
		case ft.Kind() == reflect.Struct:
			if sub, ok := v.(map[string]any); ok {
				f.walkArrays(ft, sub, key, found)
			}
		}
	}
}

// walkInside checks what v, a value of the file at key (its elements numbered as
// lineOfKey takes them) that fits t, holds: the keys of the elements of an array of
// tables, the values of a table of values.
func (f *fileErrors) walkInside(t reflect.Type, v any, key toml.Key, found *[]lineError) {
	exact := func(a, b string) bool { return a == b }
	check := func(v any, t reflect.Type, key toml.Key) {
		if got, ok := fits(v, t); !ok {
			n := f.lineOfKey(key)
			*found = append(*found, lineError{n, f.atLine(n, "%s: want %s, got %s", describeKey(plainKey(key)), want(t), got)})
			return
		}
		// The library would report it at the line of the key's last definition in the
		// file, whichever element that is in.
		if s, ok := v.(string); ok && (t == durationType || t.Kind() == reflect.Pointer && t.Elem() == durationType) {
			if _, err := time.ParseDuration(s); err != nil {
				n := f.lineOfKey(key)
				*found = append(*found, lineError{n, f.atLine(n, "%s: invalid duration: %q", describeKey(plainKey(key)), s)})
				return
			}
		}
		f.walkInside(t, v, key, found)
	}
	switch {
	case isTableArray(t):
		for i, e := range tableElements(v) {
			at := append(slices.Clone(key), "#"+strconv.Itoa(i+1))
			for k, ev := range e {
				if sf, ok := tomlField(t.Elem(), k, exact); ok {
					check(ev, sf.Type, append(slices.Clone(at), k))
				}
			}
		}
	case t.Kind() == reflect.Map:
		m, _ := v.(map[string]any)
		for k, mv := range m {
			check(mv, t.Elem(), append(slices.Clone(key), k))
		}
	}
}

// tableElements returns the tables of an array of tables, as the TOML library decodes it.
func tableElements(v any) []map[string]any {
	switch arr := v.(type) {
	case []map[string]any:
		return arr
	case []any:
		out := make([]map[string]any, 0, len(arr))
		for _, e := range arr {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// position is "name:line" of element i of the array of tables at path.
func (f *fileErrors) position(path toml.Key, i int) string {
	n := f.lineOfKey(elementKey(path, i)) // its header, or its place in an inline array
	if n == 0 {
		return f.name
	}
	return fmt.Sprintf("%s:%d", f.name, n)
}

// pluginPositions records where each [[plugin]] and [[admin.token]] is, for the errors
// of Validate and of loading, and reads the tokens written "${NAME}" from the
// environment.
func (f *fileErrors) pluginPositions(cfg *Config, lookupEnv func(string) (string, bool)) error {
	for i := range cfg.Plugin {
		cfg.Plugin[i].pos = f.position(toml.Key{"plugin"}, i)
	}
	var errs []error
	path := toml.Key{"admin", "token"}
	for i := range cfg.Admin.Tokens {
		t := &cfg.Admin.Tokens[i]
		t.pos = f.position(path, i)
		v, problem := fromEnv(t.Token, lookupEnv)
		if problem != "" {
			errs = append(errs, f.at(elementKey(path, i, "token"), "%s: %s", describeKey(append(path, "token")), problem))
			continue
		}
		t.Token = v
	}
	return errors.Join(errs...)
}

// insideMap reports whether key lies inside a field that takes any table ([[plugin]]
// config), whose keys the library may list as undecoded although they were.
func insideMap(key toml.Key) bool {
	for i := 1; i < len(key); i++ {
		if t, ok := fieldType(configType, key[:i]); ok && t.Kind() == reflect.Map {
			return true
		}
	}
	return false
}
