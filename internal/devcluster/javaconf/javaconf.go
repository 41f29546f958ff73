// Package javaconf is what the dev cluster's NameServer and broker share of Java's
// org.apache.rocketmq.common.Configuration: the properties text of the GET_*_CONFIG
// answers and UPDATE_*_CONFIG requests, and MixAll.properties2Object's reading of a value
// as its field's type.
package javaconf

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
)

// Kind is the Java type of a config field.
type Kind uint8

const (
	String Kind = iota
	Int
	Long
	Bool
	Enum // set through its String setter: Enum.valueOf
)

// Key is a config field: its name, type, the value a 4.9.4 server reports by default, and
// for an enum its constants.
type Key struct {
	Name  string
	Kind  Kind
	Value string
	Enum  []string
}

// Parse is properties2Object's conversion of s for k: the value as Java prints the field
// afterwards, or ok false when the field keeps its value (the exception is swallowed).
func (k Key) Parse(s string) (string, bool) {
	switch k.Kind {
	case String:
		return s, true // as Properties.load left it: leading blanks gone, trailing kept
	case Int, Long:
		bits := 32
		if k.Kind == Long {
			bits = 64
		}
		v, err := strconv.ParseInt(s, 10, bits) // Integer.parseInt: no spaces, an optional sign
		return strconv.FormatInt(v, 10), err == nil
	case Bool:
		return strconv.FormatBool(strings.EqualFold(s, "true")), true // Boolean.parseBoolean
	case Enum:
		return s, slices.Contains(k.Enum, s)
	}
	return "", false
}

// Format is Configuration.getAllConfigsFormatString: a "key=value" line per key, in keys'
// order. A key's value is own's where the server has one of its own (omit: a null, which
// Java leaves out), replaced by updated's where that has one, else its default.
func Format(keys []Key, own func(name string) (v string, ok, omit bool), updated func(name string) (string, bool)) []byte {
	var b []byte
	for _, k := range keys {
		v := k.Value
		if o, ok, omit := own(k.Name); ok {
			if omit {
				continue
			}
			v = o
		}
		if u, ok := updated(k.Name); ok {
			v = u
		}
		b = append(append(append(append(b, k.Name...), '='), v...), '\n')
	}
	return b
}

// Update is Configuration.update over a properties text (an UPDATE_*_CONFIG body): the
// properties read, and of them the keys' values that parse as their fields, as Java
// prints them; a value that does not parse and an unknown key change nothing.
func Update(keys []Key, text string) (props, changed map[string]string) {
	props, changed = ParseProperties(text), map[string]string{}
	for _, k := range keys {
		if raw, ok := props[k.Name]; ok {
			if v, ok := k.Parse(raw); ok {
				changed[k.Name] = v
			}
		}
	}
	return props, changed
}

// ParseProperties is java.util.Properties.load for the text mqadmin sends
// (MixAll.properties2String): "key=value" lines, '#' and '!' comment lines and blank
// lines, the ':' and blank separators as load reads them; escapes are not undone.
func ParseProperties(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, len(s)+1)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		end := strings.IndexAny(line, "=: \t\f")
		if end < 0 {
			out[line] = ""
			continue
		}
		key, rest := line[:end], strings.TrimLeft(line[end:], " \t\f")
		if rest != "" && (rest[0] == '=' || rest[0] == ':') {
			rest = strings.TrimLeft(rest[1:], " \t\f")
		}
		out[key] = rest
	}
	return out
}
