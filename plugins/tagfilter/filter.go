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

// Deliver reports whether a message with this tag is delivered.
func (f Filter) Deliver(tag string) bool {
	listed := (f.all && tag != "") || slices.Contains(f.tags, tag)
	return listed != f.exclude
}
