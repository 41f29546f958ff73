package message

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOffsetMsgID(t *testing.T) {
	tests := []struct {
		host   string
		offset int64
		id     string
	}{
		{"127.0.0.1:10921", 0, "7F00000100002AA90000000000000000"},          // REMOTING.md
		{"127.0.0.1:10921", 7044, "7F00000100002AA90000000000001B84"},       // frame 409
		{"127.0.0.1:10921", 2977, "7F00000100002AA90000000000000BA1"},       // frame 236
		{"10.0.0.255:65535", 1<<63 - 1, "0A0000FF0000FFFF7FFFFFFFFFFFFFFF"}, // largest offset
		{"[fd00::2]:10911", 1, "FD00000000000000000000000000000200002A9F0000000000000001"},
	}
	for _, tc := range tests {
		if got := OffsetMsgID(ap(tc.host), tc.offset); got != tc.id {
			t.Errorf("OffsetMsgID(%s, %d) = %s, want %s", tc.host, tc.offset, got, tc.id)
		}
		for _, id := range []string{tc.id, strings.ToLower(tc.id)} {
			host, off, err := ParseOffsetMsgID(id)
			if err != nil || host != ap(tc.host) || off != tc.offset {
				t.Errorf("ParseOffsetMsgID(%s) = %v %d %v", id, host, off, err)
			}
		}
	}
	for _, bad := range []string{"", "7F000001", "7F00000100002AA9000000000000000G",
		"7F00000100012AA90000000000000000", strings.Repeat("0", 40)} {
		if _, _, err := ParseOffsetMsgID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseOffsetMsgID(%q) = %v, want ErrInvalidID", bad, err)
		}
	}
}

func TestUniqIDGeneratorLayout(t *testing.T) {
	at := time.Date(2026, 11, 25, 0, 15, 3, 988e6, time.UTC)
	tests := []struct {
		name string
		cfg  UniqIDConfig
		want string
	}{
		{"IPv4", UniqIDConfig{IP: netip.MustParseAddr("192.0.2.2"), PID: 0x3587, ProcessHash: 0x01020304},
			"C00002023587010203047BA66B340000"},
		{"IPv4-mapped IPv6 is written as IPv4", UniqIDConfig{IP: netip.MustParseAddr("::ffff:192.0.2.2"), PID: 0x13587, ProcessHash: 1},
			"C00002023587000000017BA66B340000"},
		{"IPv6", UniqIDConfig{IP: netip.MustParseAddr("fd00::2"), PID: 0x18CA, ProcessHash: 0x5FFD2B27},
			"FD00000000000000000000000000000218CA5FFD2B277BA66B340000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now, tc.cfg.Location = func() time.Time { return at }, time.UTC
			g := NewUniqIDGenerator(tc.cfg)
			if got := g.Next(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			id, err := ParseUniqID(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !id.Time(at.Add(time.Second)).Equal(at) || id.IP != tc.cfg.IP.Unmap() || id.PID != uint16(tc.cfg.PID) ||
				id.ProcessHash != tc.cfg.ProcessHash {
				t.Errorf("parsed %+v, time %v", id, id.Time(at.Add(time.Second)))
			}
			if next := g.Next(); next[len(next)-4:] != "0001" {
				t.Errorf("counter: %s", next)
			}
		})
	}
}

// The timestamp counts from the start of the month in the configured zone; a new month
// restarts it, and parsing takes the month of the reference time or the one before.
func TestUniqIDMonthBoundary(t *testing.T) {
	loc := time.FixedZone("UTC+8", 8*3600)
	now := time.Date(2026, 11, 30, 23, 59, 59, 999e6, loc)
	g := NewUniqIDGenerator(UniqIDConfig{IP: netip.MustParseAddr("10.0.0.1"), PID: 1, ProcessHash: 1,
		Now: func() time.Time { return now }, Location: loc})
	before, _ := ParseUniqID(g.Next())
	now = now.Add(2 * time.Millisecond)
	after, _ := ParseUniqID(g.Next())
	if after.MonthMillis != 1 || before.MonthMillis != 29*86400000+86399999 {
		t.Errorf("month millis %d then %d", before.MonthMillis, after.MonthMillis)
	}
	if got := after.Time(now.Add(time.Hour)); !got.Equal(now) {
		t.Errorf("parsed time %v, want %v", got, now)
	}
	// An id from late last month, parsed early this month.
	if got := before.Time(now.Add(time.Hour)); !got.Equal(now.Add(-2 * time.Millisecond)) {
		t.Errorf("last month's id parsed to %v", got)
	}
	// NTP stepping the clock back across the month start gives 0, as in Java.
	now = now.Add(-5 * time.Millisecond)
	if back, _ := ParseUniqID(g.Next()); back.MonthMillis != 0 {
		t.Errorf("clock stepped back: month millis %d", back.MonthMillis)
	}
}

// NextAt makes the id of the time it is given, not the generator's clock's, and counts
// on with the ids Next makes.
func TestUniqIDNextAt(t *testing.T) {
	clock := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	g := NewUniqIDGenerator(UniqIDConfig{IP: netip.MustParseAddr("10.0.0.1"), PID: 1, ProcessHash: 1,
		Now: func() time.Time { return clock }, Location: time.UTC})
	at := time.Date(2026, 11, 2, 10, 0, 0, 7e6, time.UTC)
	first, _ := ParseUniqID(g.NextAt(at))
	second, _ := ParseUniqID(g.Next())
	if got := first.Time(clock.Add(time.Hour)); !got.Equal(at) {
		t.Errorf("NextAt(%v) made an id of %v", at, got)
	}
	if got := second.Time(clock.Add(time.Hour)); !got.Equal(clock) {
		t.Errorf("Next made an id of %v, want the clock's %v", got, clock)
	}
	if second.Counter != first.Counter+1 {
		t.Errorf("counters %d then %d", first.Counter, second.Counter)
	}
}

func TestParseUniqIDRejectsBadIDs(t *testing.T) {
	for _, bad := range []string{"", "C00002023587", "C00002023587000000007bb83dc0000Z", strings.Repeat("A", 40)} {
		if _, err := ParseUniqID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseUniqID(%q) = %v", bad, err)
		}
	}
	// rocketmq-client-go writes lower case (frame 446).
	id, err := ParseUniqID("C00002023587000000007bb83dc00001")
	if err != nil || id.IP != netip.MustParseAddr("192.0.2.2") || id.PID != 0x3587 || id.Counter != 1 {
		t.Errorf("%+v %v", id, err)
	}
}

// Ids stay unique under concurrency, and across generators of processes that share an
// address and pid (a restart), thanks to the process hash.
func TestUniqIDsAreUnique(t *testing.T) {
	const workers, each = 8, 4000
	cfg := UniqIDConfig{IP: netip.MustParseAddr("192.0.2.2"), PID: 42}
	g1, g2 := NewUniqIDGenerator(cfg), NewUniqIDGenerator(cfg)
	ids := make(chan string, 2*workers*each)
	var wg sync.WaitGroup
	for w := range 2 * workers {
		g := g1
		if w%2 == 1 {
			g = g2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids <- g.Next()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := make(map[string]bool, 2*workers*each)
	for id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if u, err := ParseUniqID(id); err != nil || u.PID != 42 || time.Since(u.Time(time.Now().Add(time.Minute))).Abs() > time.Minute {
			t.Fatalf("id %s parses to %+v, %v", id, u, err)
		}
	}
}

func TestUniqIDWithoutAddressUsesTime(t *testing.T) {
	g := NewUniqIDGenerator(UniqIDConfig{})
	id, err := ParseUniqID(g.Next())
	if err != nil || !id.IP.Is4() || id.ProcessHash == 0 {
		t.Errorf("%+v %v", id, err)
	}
}
