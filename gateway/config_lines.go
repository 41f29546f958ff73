package gateway

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyIndex knows on which line of a TOML file each key is defined. BurntSushi/toml keeps
// key positions to itself (v1.6 exports none), so the errors that name a key find its line
// here. The file has been parsed successfully before an index is built, so the scanner
// need only recognise table headers and "key =" lines, and step over multi-line strings
// (whose lines could look like either).
type keyIndex struct {
	lines  map[string]int  // key path joined by keySep -> line of its first definition
	tables map[string]bool // key paths defined by a [table] or [[array]] header
}

const keySep = "\x00"

func (x *keyIndex) line(key toml.Key) int     { return x.lines[strings.Join(key, keySep)] }
func (x *keyIndex) isTable(key toml.Key) bool { return x.tables[strings.Join(key, keySep)] }

func indexKeys(src string) *keyIndex {
	x := &keyIndex{lines: map[string]int{}, tables: map[string]bool{}}
	var table []string
	// The keys of an array of tables ([[plugin]]) are also recorded under the element's
	// path, its number inserted after the array's name ("plugin", "#2", "name"), so that
	// an error about the second plugin names its line.
	var tableIdx []string
	// The path of each array of tables -> its elements so far.
	arrays := map[string]int{}
	closing := "" // the delimiter ending the multi-line string being stepped over
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if closing != "" {
			if _, after, ok := strings.Cut(line, closing); ok {
				closing = multiLineOpened(after)
			}
			continue
		}
		s := strings.TrimLeft(line, " \t")
		switch {
		case s == "" || s[0] == '#':
		case s[0] == '[':
			name := strings.TrimPrefix(strings.TrimPrefix(s, "["), "[")
			parts, rest, ok := parseKey(name)
			if !ok || !strings.HasPrefix(strings.TrimLeft(rest, " \t"), "]") {
				continue // an array value's continuation, "[1, 2],"
			}
			table = parts
			tableIdx = elementPath(parts, arrays, strings.HasPrefix(s, "[["))
			x.define(parts, n)
			x.define(tableIdx, n)
			x.tables[strings.Join(parts, keySep)] = true
		default:
			parts, rest, ok := parseKey(s)
			if rest = strings.TrimLeft(rest, " \t"); !ok || !strings.HasPrefix(rest, "=") {
				// A value continuing a multi-line array; it may open a multi-line string.
				closing = multiLineOpened(s)
				continue
			}
			x.define(append(append([]string(nil), table...), parts...), n)
			if len(tableIdx) != len(table) {
				x.define(append(append([]string(nil), tableIdx...), parts...), n)
			}
			closing = multiLineOpened(rest[1:])
		}
	}
	return x
}

// elementKey is the path of element i (from 0) of the array of tables at path, followed
// by more.
func elementKey(path toml.Key, i int, more ...string) toml.Key {
	k := append(append(toml.Key(nil), path...), "#"+strconv.Itoa(i+1))
	return append(k, more...)
}

// elementPath is the path of a table header with the numbers of the array elements it
// lies in: [[plugin]] the second time is "plugin", "#2"; [plugin.config] after it
// "plugin", "#2", "config". array says the header is [[...]], one more element.
func elementPath(parts []string, arrays map[string]int, array bool) []string {
	out := make([]string, 0, len(parts)+2)
	for i, p := range parts {
		out = append(out, p)
		path := strings.Join(parts[:i+1], keySep)
		if i == len(parts)-1 && array {
			arrays[path]++
			// A new element starts its own nested arrays ([[consumer.subscriptions]]).
			for nested := range arrays {
				if strings.HasPrefix(nested, path+keySep) {
					delete(arrays, nested)
				}
			}
		}
		if n := arrays[path]; n > 0 {
			out = append(out, "#"+strconv.Itoa(n))
		}
	}
	return out
}

// define records line n for key and for each of its parents not seen yet (a dotted key
// or a header defines them implicitly).
func (x *keyIndex) define(key []string, n int) {
	for i := 1; i <= len(key); i++ {
		k := strings.Join(key[:i], keySep)
		if _, ok := x.lines[k]; !ok {
			x.lines[k] = n
		}
	}
}

// parseKey reads a dotted key (bare, "basic" or 'literal' parts) from the start of s and
// returns its parts and what follows.
func parseKey(s string) (parts []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, "", false
		}
		var part string
		switch s[0] {
		case '"':
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, "", false
			}
			u, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, "", false
			}
			part, s = u, s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, "", false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := 0
			for end < len(s) && isBareKeyChar(s[end]) {
				end++
			}
			if end == 0 {
				return nil, "", false
			}
			part, s = s[:end], s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ".") {
			return parts, s, true
		}
		s = s[1:]
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// multiLineOpened returns the delimiter of a multi-line string that s opens and does not
// close, or "".
func multiLineOpened(s string) string {
	for {
		i := strings.IndexAny(s, `"'#`)
		if i < 0 || s[i] == '#' {
			return ""
		}
		q := s[i]
		delim := strings.Repeat(string(q), 3)
		if strings.HasPrefix(s[i:], delim) {
			_, after, ok := strings.Cut(s[i+3:], delim)
			if !ok {
				return delim
			}
			s = after
			continue
		}
		// A one-line string: skip it, escapes included for basic strings.
		j := i + 1
		for j < len(s) && s[j] != q {
			if q == '"' && s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return ""
		}
		s = s[j+1:]
	}
}

// inlineElementLine returns the line of element j (from 0) of the inline array that is
// the value of the key on line n, 0 when there is none: the index sees no key inside an
// inline array, whose elements may each have a line of their own.
func inlineElementLine(src string, n, j int) int {
	if n <= 0 {
		return 0
	}
	off := 0
	for range n - 1 {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			return 0
		}
		off += i + 1
	}
	eq := strings.IndexByte(src[off:], '=')
	if eq < 0 {
		return 0
	}
	depth, count, next := 0, -1, false // next: an element starts at the next value
	for i := off + eq + 1; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			if c == '\n' {
				n++
			}
			continue
		case '#':
			if k := strings.IndexByte(src[i:], '\n'); k >= 0 {
				i += k - 1 // the line break is counted next
				continue
			}
			return 0
		}
		if depth == 1 && next && c != ',' && c != ']' {
			if count++; count == j {
				return n
			}
			next = false
		}
		switch c {
		case '[', '{':
			if depth++; depth == 1 {
				if c != '[' {
					return 0 // not an array
				}
				next = true
			}
		case ']', '}':
			if depth--; depth <= 0 {
				return 0
			}
		case ',':
			next = depth == 1
		case '"', '\'':
			end := stringEnd(src, i)
			n += strings.Count(src[i:end], "\n")
			i = end - 1
		default:
			if depth == 0 {
				return 0 // a value that is no array
			}
		}
	}
	return 0
}

// stringEnd returns the offset just past the TOML string starting at src[i], a quote.
func stringEnd(src string, i int) int {
	q := src[i]
	delim := strings.Repeat(string(q), 3)
	if strings.HasPrefix(src[i:], delim) {
		if k := strings.Index(src[i+3:], delim); k >= 0 {
			end := i + 3 + k + 3
			for end < len(src) && src[end] == q { // """a"""" ends with its last quotes
				end++
			}
			return end
		}
		return len(src)
	}
	for k := i + 1; k < len(src); k++ {
		switch {
		case q == '"' && src[k] == '\\':
			k++
		case src[k] == q:
			return k + 1
		}
	}
	return len(src)
}
