package devcluster

import (
	"fmt"
	"strconv"
	"strings"
)

// A YAML subset, enough for Java's plain_acl.yml and no more: block mappings and block
// sequences by indentation (a sequence may sit at its key's indentation, as in the
// files Java writes), "- key: value" items opening a mapping, plain, single- and
// double-quoted scalars, empty flow sequences and flow sequences of plain scalars, and
// comments. Anchors, tags, multi-line scalars, flow mappings and documents are refused
// with the line they are on. Every scalar is a string: the consumer converts.
//
// A dependency would read more of YAML, but one file format with nine keys does not
// justify a YAML library in the module that every test of the gateway builds.

// yamlNode is a parsed value: exactly one of the fields is set, or none for null.
type yamlNode struct {
	line    int
	scalar  *string
	seq     []*yamlNode
	mapping []yamlEntry
	isSeq   bool
	isMap   bool
}

type yamlEntry struct {
	key   string
	value *yamlNode
}

// yamlLine is a significant line: its number, indentation and text without comment.
type yamlLine struct {
	n      int
	indent int
	text   string
}

type yamlParser struct {
	file  string
	lines []yamlLine
	pos   int
}

// parseYAML parses src; file names it in errors.
func parseYAML(file string, src string) (*yamlNode, error) {
	p := &yamlParser{file: file}
	for i, raw := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		n := i + 1
		body := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(body, "\t") {
			return nil, p.errorf(n, "tab in indentation")
		}
		text, err := stripComment(body)
		if err != nil {
			return nil, p.errorf(n, "%v", err)
		}
		text = strings.TrimRight(text, " \t")
		if text == "" || text == "---" {
			continue
		}
		if strings.HasPrefix(text, "%") || text == "..." {
			return nil, p.errorf(n, "YAML directives and documents are not supported")
		}
		p.lines = append(p.lines, yamlLine{n: n, indent: len(raw) - len(body), text: text})
	}
	if len(p.lines) == 0 {
		return &yamlNode{}, nil
	}
	root, err := p.node(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.lines) {
		return nil, p.errorf(p.lines[p.pos].n, "unexpected indentation")
	}
	return root, nil
}

func (p *yamlParser) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, line, fmt.Sprintf(format, args...))
}

// stripComment removes a comment: '#' at the start or after a space, outside quotes.
func stripComment(s string) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'' && c == '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				i++ // '' is an escaped quote
				continue
			}
			quote = 0
		case quote == '"' && c == '\\':
			i++
		case quote == '"' && c == '"':
			quote = 0
		case quote != 0:
		case (c == '\'' || c == '"') && (i == 0 || strings.ContainsRune(" [,:-", rune(s[i-1]))):
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i], nil
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated quoted string")
	}
	return s, nil
}

func (p *yamlParser) peek() *yamlLine {
	if p.pos < len(p.lines) {
		return &p.lines[p.pos]
	}
	return nil
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// node parses the block starting at the next line if it is indented at least min.
func (p *yamlParser) node(min int) (*yamlNode, error) {
	l := p.peek()
	if l == nil || l.indent < min {
		return &yamlNode{}, nil
	}
	if isSeqItem(l.text) {
		return p.sequence(l.indent)
	}
	return p.mapping(l.indent)
}

func (p *yamlParser) sequence(indent int) (*yamlNode, error) {
	n := &yamlNode{line: p.peek().n, isSeq: true}
	for {
		l := p.peek()
		if l == nil || l.indent < indent || l.indent == indent && !isSeqItem(l.text) {
			return n, nil // the next key of an enclosing mapping ends a sequence at its indentation
		}
		if l.indent > indent {
			return nil, p.errorf(l.n, "unexpected indentation")
		}
		rest := strings.TrimLeft(l.text[1:], " ")
		var item *yamlNode
		var err error
		switch {
		case rest == "":
			p.pos++
			item, err = p.node(indent + 1)
		case isSeqItem(rest):
			return nil, p.errorf(l.n, "nested sequences on one line are not supported")
		case keyOf(rest) >= 0:
			// "- key: value" opens a mapping whose keys are aligned with "key".
			l.indent += len(l.text) - len(rest)
			l.text = rest
			item, err = p.mapping(l.indent)
		default:
			p.pos++
			item, err = p.scalar(l.n, rest)
		}
		if err != nil {
			return nil, err
		}
		n.seq = append(n.seq, item)
	}
}

// keyOf returns the index of the colon ending a mapping key in text, or -1.
func keyOf(text string) int {
	if text[0] == '"' || text[0] == '\'' || text[0] == '[' || text[0] == '{' {
		return -1 // quoted keys are not needed for plain_acl.yml
	}
	for i := 0; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ') {
			return i
		}
	}
	return -1
}

func (p *yamlParser) mapping(indent int) (*yamlNode, error) {
	n := &yamlNode{line: p.peek().n, isMap: true}
	seen := map[string]bool{}
	for {
		l := p.peek()
		if l == nil || l.indent < indent {
			return n, nil
		}
		if l.indent > indent {
			return nil, p.errorf(l.n, "unexpected indentation")
		}
		if isSeqItem(l.text) {
			return n, nil // the next item of an enclosing sequence at this indentation
		}
		colon := keyOf(l.text)
		if colon < 0 {
			return nil, p.errorf(l.n, "expected \"key: value\", found %q", l.text)
		}
		key := l.text[:colon]
		if seen[key] {
			return nil, p.errorf(l.n, "duplicate key %q", key)
		}
		seen[key] = true
		rest := strings.TrimLeft(l.text[colon+1:], " ")
		p.pos++
		var value *yamlNode
		var err error
		if rest != "" {
			value, err = p.scalar(l.n, rest)
		} else if next := p.peek(); next != nil && next.indent == indent && isSeqItem(next.text) {
			value, err = p.sequence(indent) // a sequence at its key's indentation
		} else {
			value, err = p.node(indent + 1)
		}
		if err != nil {
			return nil, err
		}
		if value.line == 0 {
			value.line = l.n
		}
		n.mapping = append(n.mapping, yamlEntry{key: key, value: value})
	}
}

// scalar reads a value written on the line of its key or dash.
func (p *yamlParser) scalar(line int, s string) (*yamlNode, error) {
	if s == "" {
		return &yamlNode{line: line}, nil
	}
	switch s[0] {
	case '&', '*', '!', '|', '>', '{', '@', '`':
		return nil, p.errorf(line, "%q: this YAML feature is not supported", s)
	case '[':
		if !strings.HasSuffix(s, "]") {
			return nil, p.errorf(line, "%q: flow sequences must close on their line", s)
		}
		n := &yamlNode{line: line, isSeq: true}
		inner := strings.TrimSpace(s[1 : len(s)-1])
		if inner == "" {
			return n, nil
		}
		for item := range strings.SplitSeq(inner, ",") {
			item = strings.TrimSpace(item)
			if item == "" || item[0] == '[' {
				return nil, p.errorf(line, "%q: empty or nested flow sequence items are not supported", s)
			}
			v, err := p.scalar(line, item)
			if err != nil {
				return nil, err
			}
			n.seq = append(n.seq, v)
		}
		return n, nil
	case '"':
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, p.errorf(line, "%s: bad double-quoted string", s)
		}
		return &yamlNode{line: line, scalar: &v}, nil
	case '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return nil, p.errorf(line, "%s: bad single-quoted string", s)
		}
		v := strings.ReplaceAll(s[1:len(s)-1], "''", "'")
		return &yamlNode{line: line, scalar: &v}, nil
	}
	if s == "~" || s == "null" || s == "Null" || s == "NULL" {
		return &yamlNode{line: line}, nil
	}
	return &yamlNode{line: line, scalar: &s}, nil
}
