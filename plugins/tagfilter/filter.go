package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Filter decides by a message's tag whether it is delivered.
type Filter struct {
	tags    []string
	all     bool
	exclude bool
}

// NewFilter returns a Filter delivering the listed tags (or, with exclude, all others).
// An entry other than "" (untagged messages) is read as a RocketMQ subscription
// expression is (Java's FilterAPI.buildSubscriptionData): tags joined by "||", each
// trimmed of blanks. Read whole, "TagA || TagB" or " paid" matched no message's tag, and
// every message the subscription took was skipped: consumed, never delivered.
func NewFilter(tags []string, exclude bool) (Filter, error) {
	if len(tags) == 0 {
		return Filter{}, errors.New(`no tags: want {"tags": ["TagA", ...]}`)
	}
	f := Filter{exclude: exclude}
	for i, expr := range tags {
		if expr == "" {
			f.tags = append(f.tags, "")
			continue
		}
		n := len(f.tags)
		for tag := range strings.SplitSeq(expr, "||") {
			// Java's String.trim: every character up to the space.
			if tag = strings.TrimFunc(tag, func(r rune) bool { return r <= ' ' }); tag != "" {
				f.tags = append(f.tags, tag)
			}
		}
		if len(f.tags) == n {
			return Filter{}, fmt.Errorf("tags[%d]: %q names no tag", i, expr)
		}
		// Excluding every message skips them all: consumed, never delivered, which no
		// configuration means.
		if exclude && slices.Contains(f.tags[n:], "*") {
			return Filter{}, fmt.Errorf(`tags[%d]: %q with "exclude": true skips every message`, i, expr)
		}
	}
	f.all = slices.Contains(f.tags, "*")
	return f, nil
}

// Deliver reports whether a message with this tag ("" for none) is delivered. "*" lists
// every message, untagged ones included, as a RocketMQ subscription's "*" does: a
// subscription moved over unchanged must not skip (and so lose) the untagged messages.
func (f Filter) Deliver(tag string) bool {
	listed := f.all || slices.Contains(f.tags, tag)
	return listed != f.exclude
}
