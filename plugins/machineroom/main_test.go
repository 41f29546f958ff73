package main

import (
	"slices"
	"testing"
)

func TestConfigureNeedsRooms(t *testing.T) {
	for _, tt := range []struct {
		config string
		want   []string // rooms after, nil for an error
	}{
		{`{"rooms": ["room1", "room2"]}`, []string{"room1", "room2"}},
		{`{"rooms": [""]}`, []string{""}}, // brokers named "@name"
		// No room: no queue for anybody, nothing consumed and no error to say why. The
		// gateway refuses the native strategy without allocate_rooms for the same reason.
		{`{}`, nil},
		{`{"rooms": []}`, nil},
		{`{"rooms": null}`, nil},
		{`{"rooms": "room1"}`, nil},
		{``, nil},
		{`{"rooms": ["room1"], "room": ["room2"]}`, nil}, // a misspelt key is refused, not ignored
	} {
		rooms = nil
		err := configure([]byte(tt.config))
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("configure(%s) accepted: rooms %q", tt.config, rooms)
		case tt.want != nil && err != nil:
			t.Errorf("configure(%s): %v", tt.config, err)
		case tt.want != nil && !slices.Equal(rooms, tt.want):
			t.Errorf("configure(%s): rooms %q, want %q", tt.config, rooms, tt.want)
		}
	}
}
