package remoting

import (
	"reflect"
	"testing"
)

func TestTagHashCode(t *testing.T) {
	tests := []struct {
		tag  string
		want int32
	}{
		{"TagA", 2598919}, // the codeSet of the recorded heartbeats
		{"TagB", 2598920},
		{"", 0},
		{"hello", 99162322},
		{"polygenelubricants", -1 << 31}, // overflows to Integer.MIN_VALUE
		{"ü", 252},
		{"😀", int32(31*0xD83D + 0xDE00)},
	}
	for _, tt := range tests {
		if got := TagHashCode(tt.tag); got != tt.want {
			t.Errorf("TagHashCode(%q) = %d, want %d", tt.tag, got, tt.want)
		}
	}
}

func TestBuildSubscription(t *testing.T) {
	tests := []struct {
		name, expr string
		sub        string
		tags       []string
		codes      []int32
		err        bool
	}{
		{"star subscribes to all", "*", "*", []string{}, []int32{}, false},
		{"empty subscribes to all", "", "*", []string{}, []int32{}, false},
		{"two tags", "TagA || TagB", "TagA || TagB", []string{"TagA", "TagB"}, []int32{2598919, 2598920}, false},
		{"tags in HashSet order, not written order", "TagB || TagA", "TagB || TagA",
			[]string{"TagA", "TagB"}, []int32{2598919, 2598920}, false},
		{"blanks trimmed and empty parts skipped", " TagA ||  || TagB||", " TagA ||  || TagB||",
			[]string{"TagA", "TagB"}, []int32{2598919, 2598920}, false},
		{"duplicates kept once", "x || x", "x || x", []string{"x"}, []int32{120}, false},
		{"a spaced star is a tag, as in Java", " * ", " * ", []string{"*"}, []int32{42}, false},
		{"only separators is an error", "||", "", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := BuildSubscription("T", tt.expr)
			if tt.err {
				if err == nil {
					t.Fatalf("no error for %q", tt.expr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Topic != "T" || s.SubString != tt.sub || s.ExpressionType != "TAG" ||
				!reflect.DeepEqual(s.TagsSet, tt.tags) || !reflect.DeepEqual(s.CodeSet, tt.codes) {
				t.Errorf("got %+v", s)
			}
		})
	}
}

// A subscription built here is the one the Java client put in its heartbeat, but for the
// time-based subVersion.
func TestBuildSubscriptionMatchesRecordedHeartbeat(t *testing.T) {
	var h HeartbeatData
	if err := h.Decode(recordedCommand(t, "169-push-json-req34.bin").Body); err != nil {
		t.Fatal(err)
	}
	for _, rec := range h.Consumers[0].Subscriptions {
		built, err := BuildSubscription(rec.Topic, rec.SubString)
		if err != nil {
			t.Fatal(err)
		}
		built.SubVersion = rec.SubVersion
		if !reflect.DeepEqual(built, rec) {
			t.Errorf("\nbuilt    %+v\nrecorded %+v", built, rec)
		}
	}
}
