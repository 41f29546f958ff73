package main

import (
	"errors"
	"slices"
)

// Filter decides by a message's tag whether it is delivered.
type Filter struct {
	tags    []string
	all     bool
	exclude bool
}

// NewFilter returns a Filter delivering the listed tags (or, with exclude, all others).
func NewFilter(tags []string, exclude bool) (Filter, error) {
	if len(tags) == 0 {
		return Filter{}, errors.New(`no tags: want {"tags": ["TagA", ...]}`)
	}
	return Filter{tags: slices.Clone(tags), all: slices.Contains(tags, "*"), exclude: exclude}, nil
}

// Deliver reports whether a message with this tag ("" for none) is delivered. "*" lists
// every message, untagged ones included, as a RocketMQ subscription's "*" does: a
// subscription moved over unchanged must not skip (and so lose) the untagged messages.
func (f Filter) Deliver(tag string) bool {
	listed := f.all || slices.Contains(f.tags, tag)
	return listed != f.exclude
}
