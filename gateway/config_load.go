package gateway

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads a gateway.toml (see the documented example at the repository's root) into a
// Config, strictly: a syntax error, an unknown key, a value of the wrong type or a
// duration that does not parse is an error naming the file, the line and the key, as in
//
//	gateway.toml:14: unknown key "namesvr" in [client] (did you mean "namesrv"?)
//
// Secrets need not be written in the file: a value of [client.acl] written "${NAME}" is
// replaced by the environment variable NAME, which must then be set and not empty.
//
// Load applies no defaults and checks nothing beyond the file's shape: Validate (which
// New calls) does, naming the file, line and key of a setting the file wrote.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("gateway config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes a configuration file's contents as Load does; name is the file name the
// errors give, lookupEnv resolves "${NAME}" secrets (os.LookupEnv for Load).
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	src := string(data)
	f := &fileErrors{name: name, src: src}

	// First the syntax alone, then the types against Config's, and only then the decode
	// into Config: BurntSushi/toml reports a type mismatch as a plain error and accepts an
	// integer for a duration (as nanoseconds), so the types are checked here.
	var raw map[string]any
	rawMeta, err := toml.Decode(src, &raw)
	if err != nil {
		return Config{}, f.decodeError(err)
	}
	f.raw = raw
	if err := f.checkTypes(raw, rawMeta.Keys()); err != nil {
		return Config{}, err
	}
	if err := f.checkArrayTypes(raw); err != nil {
		return Config{}, err
	}
	var cfg Config
	md, err := toml.Decode(src, &cfg)
	if err != nil {
		return Config{}, f.decodeError(err)
	}
	if err := f.unknownKeys(slices.DeleteFunc(md.Undecoded(), insideMap)); err != nil {
		return Config{}, err
	}
	if err := f.expandSecrets(&cfg.Client.ACL, lookupEnv); err != nil {
		return Config{}, err
	}
	if err := f.pluginPositions(&cfg, lookupEnv); err != nil {
		return Config{}, err
	}
	f.consumerPositions(&cfg)
	cfg.keyPos = f.keyPositions(md.Keys())
	return cfg, nil
}

// keyPositions maps the dotted path of each key in the file to "name:line", for the errors
// of Validate (settingError); nil for a file without keys, as for a Config built in code.
func (f *fileErrors) keyPositions(keys []toml.Key) map[string]string {
	var pos map[string]string
	for _, k := range keys {
		n := f.index().line(k)
		if n == 0 {
			continue
		}
		if pos == nil {
			pos = map[string]string{}
		}
		if p := strings.Join(k, "."); pos[p] == "" {
			pos[p] = fmt.Sprintf("%s:%d", f.name, n)
		}
	}
	return pos
}

// fileErrors builds the errors of one file, "name:line: ...".
type fileErrors struct {
	name string
	src  string
	idx  *keyIndex      // built on the first error
	raw  map[string]any // the file decoded as TOML alone, once it parses
}

func (f *fileErrors) index() *keyIndex {
	if f.idx == nil {
		f.idx = indexKeys(f.src)
	}
	return f.idx
}

// at is an error about key, at its line; inside an inline table, whose keys the index
// does not see, at the line of the nearest key that holds it.
func (f *fileErrors) at(key toml.Key, format string, args ...any) error {
	n := 0
	for i := len(key); i > 0 && n == 0; i-- {
		n = f.index().line(key[:i])
	}
	return f.atLine(n, format, args...)
}

// atLine is an error at line n; 0 leaves the line out.
func (f *fileErrors) atLine(n int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n > 0 {
		return fmt.Errorf("%s:%d: %s", f.name, n, msg)
	}
	return fmt.Errorf("%s: %s", f.name, msg)
}

// lineOfKey is the line of key in the file. Through an array of tables, the
// key's next part may number the element ("#2", as elementKey does); otherwise the
// element is the first holding the rest of the key. Inside an inline table it is the line
// of the nearest key or element that holds it.
func (f *fileErrors) lineOfKey(key toml.Key) int {
	line := 0
	var at []string // key as the index knows it, elements numbered
	var cur any = f.raw
	for i := 0; i < len(key); i++ {
		m, ok := cur.(map[string]any)
		if !ok {
			break
		}
		v, ok := m[key[i]]
		if !ok {
			break
		}
		at = append(at, key[i])
		if n := f.index().line(at); n > 0 {
			line = n
		}
		elems := tableElements(v)
		if elems == nil || i == len(key)-1 {
			cur = v
			continue
		}
		j := -1
		if num, ok := strings.CutPrefix(key[i+1], "#"); ok {
			if n, err := strconv.Atoi(num); err == nil && n >= 1 && n <= len(elems) {
				j, i = n-1, i+1
			}
		}
		if j < 0 {
			j = slices.IndexFunc(elems, func(e map[string]any) bool { return holds(e, key[i+1:]) })
		}
		if j < 0 {
			break
		}
		at = append(at, "#"+strconv.Itoa(j+1))
		if n := f.index().line(at); n > 0 {
			line = n
		} else if n := inlineElementLine(f.src, line, j); n > 0 {
			line = n
		}
		cur = elems[j]
	}
	return line
}

// holds reports whether v has key, through arrays of tables.
func holds(v any, key toml.Key) bool {
	if len(key) == 0 {
		return true
	}
	if elems := tableElements(v); elems != nil {
		return slices.ContainsFunc(elems, func(e map[string]any) bool { return holds(e, key) })
	}
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	next, ok := m[key[0]]
	return ok && holds(next, key[1:])
}

// plainKey is key without the element numbers lineOfKey takes.
func plainKey(key toml.Key) toml.Key {
	return slices.DeleteFunc(slices.Clone(key), func(p string) bool { return strings.HasPrefix(p, "#") })
}

// decodeError reports an error of toml.Decode: a ParseError at its line (with its key when
// it is about a value), anything else as the library says it.
func (f *fileErrors) decodeError(err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	// The library quotes a bad value as written, line break included ("'0b\n'"): the
	// message is kept on one line, as each error of the file is.
	msg := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(pe.Message)
	if pe.LastKey != "" && !strings.Contains(msg, pe.LastKey) {
		msg = describeKey(splitKey(pe.LastKey)) + ": " + msg
	}
	return fmt.Errorf("%s:%d: %s", f.name, f.lineOf(pe.Position), msg)
}

// lineOf is the line of an error's position. The library counts a line break that ends a
// line as the start of the next ("[http" then a line break is "line 2"); the byte offset
// says which line the user has to fix.
func (f *fileErrors) lineOf(p toml.Position) int {
	if p.Start > 0 && p.Start < len(f.src) && f.src[p.Start] == '\n' {
		return strings.Count(f.src[:p.Start], "\n") + 1
	}
	return p.Line
}

// describeKey names a key as the messages do: `key "listen" in [http]`, `key "slot" in
// [[plugin]]`.
func describeKey(key toml.Key) string {
	s := "key " + strconv.Quote(key[len(key)-1])
	if len(key) > 1 {
		parent := key[:len(key)-1]
		if t, ok := fieldType(configType, parent); ok && isTableArray(t) {
			return s + " in [[" + parent.String() + "]]"
		}
		s += " in [" + parent.String() + "]"
	}
	return s
}

// isTableArray reports whether t is an array of tables ([[plugin]]).
func isTableArray(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// splitKey splits a dotted key as ParseError.LastKey gives it; the keys it names are
// Config's, all bare.
func splitKey(s string) toml.Key { return strings.Split(s, ".") }

// unknownKeys reports the keys Config has no field for, once per unknown table.
func (f *fileErrors) unknownKeys(keys []toml.Key) error {
	var errs []error
	var last toml.Key // the last unknown key reported: the keys under it are not listed
	for _, k := range keys {
		if last != nil && len(k) > len(last) && slices.Equal(k[:len(last)], last) {
			continue
		}
		last = k
		hint := ""
		if near := nearestField(k); near != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", near)
		}
		line := f.lineOfKey(k)
		if f.index().isTable(k) {
			errs = append(errs, f.atLine(line, "unknown section [%s]%s", k.String(), hint))
			continue
		}
		errs = append(errs, f.atLine(line, "unknown %s%s", describeKey(k), hint))
	}
	return errors.Join(errs...)
}

// expandSecrets replaces the "${NAME}" values of [client.acl] by the environment.
func (f *fileErrors) expandSecrets(acl *ACLConfig, lookupEnv func(string) (string, bool)) error {
	var errs []error
	for _, s := range []struct {
		key string
		v   *string
	}{{"access_key", &acl.AccessKey}, {"secret_key", &acl.SecretKey}, {"security_token", &acl.SecurityToken}} {
		key := toml.Key{"client", "acl", s.key}
		v, problem := fromEnv(*s.v, lookupEnv)
		if problem != "" {
			errs = append(errs, f.at(key, "%s: %s", describeKey(key), problem))
			continue
		}
		*s.v = v
	}
	return errors.Join(errs...)
}

// fromEnv resolves a secret written "${NAME}" from the environment; any other value is
// returned as it is. problem says what is wrong, if anything.
func fromEnv(v string, lookupEnv func(string) (string, bool)) (_ string, problem string) {
	name, ok := strings.CutPrefix(v, "${")
	if !ok {
		return v, ""
	}
	name, ok = strings.CutSuffix(name, "}")
	if !ok || name == "" {
		return "", fmt.Sprintf("%q is not of the form ${NAME}", v)
	}
	env, set := lookupEnv(name)
	if !set || env == "" {
		return "", "environment variable " + name + " is not set"
	}
	return env, ""
}

var configType = reflect.TypeFor[Config]()

// checkTypes reports the first value, in the file's order, whose type does not fit its
// field in Config. Keys without a field are left to unknownKeys.
func (f *fileErrors) checkTypes(raw map[string]any, keys []toml.Key) error {
	for _, k := range keys {
		t, ok := fieldType(configType, k)
		if !ok {
			if near := foldField(k); near != "" {
				return f.at(k, "unknown %s (did you mean %q?)", describeKey(k), near)
			}
			continue
		}
		v, ok := lookup(raw, k)
		if !ok {
			continue // inside an array of tables: Config has none
		}
		if got, ok := fits(v, t); !ok {
			return f.at(k, "%s: want %s, got %s", describeKey(k), want(t), got)
		}
	}
	return nil
}

// fieldType follows key through Config's fields by their toml tags, exactly (the library
// also matches case-insensitively, which checkTypes refuses).
func fieldType(t reflect.Type, key toml.Key) (reflect.Type, bool) {
	for _, name := range key {
		for t.Kind() == reflect.Pointer || isTableArray(t) {
			t = t.Elem() // the keys of [[plugin]] are those of its elements
		}
		if t.Kind() == reflect.Map && t.Key().Kind() == reflect.String {
			t = t.Elem() // any key of a table of values ([telemetry] headers)
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		sf, ok := tomlField(t, name, strings.EqualFold)
		if !ok || tomlName(sf) != name {
			return nil, false
		}
		t = sf.Type
	}
	return t, true
}

// foldField returns the field name key matches only case-insensitively, if any.
func foldField(key toml.Key) string {
	parent, ok := fieldType(configType, key[:len(key)-1])
	if !ok {
		return ""
	}
	for parent.Kind() == reflect.Pointer || isTableArray(parent) {
		parent = parent.Elem()
	}
	if parent.Kind() != reflect.Struct {
		return ""
	}
	if sf, ok := tomlField(parent, key[len(key)-1], strings.EqualFold); ok {
		return tomlName(sf)
	}
	return ""
}

// nearestField suggests the field of key's table whose name is within two edits of it.
func nearestField(key toml.Key) string {
	parent, ok := fieldType(configType, key[:len(key)-1])
	if !ok {
		return ""
	}
	for parent.Kind() == reflect.Pointer || isTableArray(parent) {
		parent = parent.Elem()
	}
	if parent.Kind() != reflect.Struct {
		return ""
	}
	best, bestD := "", 3
	for i := range parent.NumField() {
		name := tomlName(parent.Field(i))
		if name == "" {
			continue
		}
		if d := editDistance(name, key[len(key)-1]); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

func tomlField(t reflect.Type, name string, match func(a, b string) bool) (reflect.StructField, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if n := tomlName(sf); n != "" && match(n, name) {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// tomlName is the key of a field: its toml tag; "" for fields the file cannot set.
func tomlName(sf reflect.StructField) string {
	tag, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
	if tag == "-" || !sf.IsExported() {
		return ""
	}
	if tag == "" {
		return sf.Name
	}
	return tag
}

func lookup(raw map[string]any, key toml.Key) (any, bool) {
	var v any = raw
	for _, k := range key {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

var durationType = reflect.TypeFor[time.Duration]()

// fits reports whether a decoded TOML value fits a field of type t, and otherwise what the
// value is.
func fits(v any, t reflect.Type) (got string, ok bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	got = describeValue(v)
	switch {
	case t.Kind() == reflect.Interface: // [[plugin]] config: anything
		ok = true
	case t == durationType:
		_, ok = v.(string) // an integer would be nanoseconds: refused as a trap
	case t.Kind() == reflect.String:
		_, ok = v.(string)
	case t.Kind() == reflect.Bool:
		_, ok = v.(bool)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		_, ok = v.(int64)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		switch v.(type) {
		case float64, int64:
			ok = true
		}
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		_, ok = v.(map[string]any)
	case isTableArray(t):
		// [[plugin]] decodes to maps; their keys are checked by checkArrayTypes.
		switch arr := v.(type) {
		case []map[string]any:
			ok = true
		case []any:
			ok = true
			for _, e := range arr {
				if _, isMap := e.(map[string]any); !isMap {
					return "an array holding " + describeValue(e), false
				}
			}
		}
	case t.Kind() == reflect.Slice:
		arr, isArr := v.([]any)
		if !isArr {
			return got, false
		}
		for _, e := range arr {
			if g, eok := fits(e, t.Elem()); !eok {
				return "an array holding " + g, false
			}
		}
		ok = true
	}
	return got, ok
}

func describeValue(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any, []map[string]any:
		return "a table"
	}
	return "a datetime"
}

func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return `a duration string such as "3s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return "a table"
	case isTableArray(t):
		return "an array of tables"
	case t.Kind() == reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(want(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
