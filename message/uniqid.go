package message

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// Lengths of a unique message id in hex digits: client address (4 or 16 bytes), pid (2),
// process hash (4), milliseconds since the start of the month (4), counter (2).
const (
	UniqIDLenV4 = 2 * (4 + 2 + 4 + 4 + 2)  // 32
	UniqIDLenV6 = 2 * (16 + 2 + 4 + 4 + 2) // 56
)

// UniqIDConfig configures a UniqIDGenerator. The zero value is usable.
type UniqIDConfig struct {
	// IP is the client's address. An invalid address stands for Java's fallback when it
	// finds none: four bytes of the current time.
	IP netip.Addr
	// PID is the process id; 0 means os.Getpid(). Only its low 16 bits are written.
	PID int
	// ProcessHash tells apart processes that share an address and pid (a restart that got
	// the same pid); 0 means random. Java writes its class loader's identity hash.
	ProcessHash uint32
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Location is the time zone whose months the timestamp counts from; nil means
	// time.Local, as Java uses the default time zone.
	Location *time.Location
}

// UniqIDGenerator makes the unique message ids a producer puts in the UNIQ_KEY property,
// as Java's MessageClientIDSetter: upper-case hex of the client's address, pid and process
// hash, the milliseconds since the start of the current month and a counter. Ids are unique
// across processes (address, pid, hash) and within one as long as it makes fewer than 65536
// in a millisecond. It is safe for concurrent use and takes no lock: an atomic counter and
// an atomically swapped month window.
type UniqIDGenerator struct {
	prefix    [2 * (16 + 2 + 4)]byte
	prefixLen int
	window    atomic.Pointer[monthWindow]
	now       func() time.Time
	loc       *time.Location
	// The counter has a cache line of its own: every id writes it, and the fields above
	// are read by every id on every core.
	_       [64]byte
	counter atomic.Uint32
	_       [60]byte
}

// monthWindow is the current month in milliseconds since the epoch: [start, next).
type monthWindow struct{ start, next int64 }

// NewUniqIDGenerator returns a generator for cfg.
func NewUniqIDGenerator(cfg UniqIDConfig) *UniqIDGenerator {
	g := &UniqIDGenerator{now: cfg.Now, loc: cfg.Location}
	if g.now == nil {
		g.now = time.Now
	}
	if g.loc == nil {
		g.loc = time.Local
	}
	var raw [16 + 2 + 4]byte
	n := 4
	switch ip := cfg.IP.Unmap(); {
	case ip.Is4():
		a := ip.As4()
		copy(raw[:], a[:])
	case ip.Is6():
		a := ip.As16()
		copy(raw[:], a[:])
		n = 16
	default:
		binary.BigEndian.PutUint32(raw[:], uint32(g.now().UnixMilli()))
	}
	pid := cfg.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	binary.BigEndian.PutUint16(raw[n:], uint16(pid))
	hash := cfg.ProcessHash
	for hash == 0 {
		hash = rand.Uint32()
	}
	binary.BigEndian.PutUint32(raw[n+2:], hash)
	g.prefixLen = len(appendHex(g.prefix[:0], raw[:n+6]))
	g.window.Store(g.monthOf(g.now().UnixMilli()))
	return g
}

func (g *UniqIDGenerator) monthOf(ms int64) *monthWindow {
	t := time.UnixMilli(ms).In(g.loc)
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, g.loc)
	return &monthWindow{start: start.UnixMilli(), next: start.AddDate(0, 1, 0).UnixMilli()}
}

// Next returns a new id; the string is its only allocation.
func (g *UniqIDGenerator) Next() string { return g.NextAt(g.now()) }

// NextAt is Next for an id made at now, a clock reading the caller has taken anyway (a
// send's start): a reading fewer, ~30-40 ns here.
func (g *UniqIDGenerator) NextAt(now time.Time) string {
	var buf [UniqIDLenV6]byte
	return string(g.AppendNextAt(buf[:0], now))
}

// AppendNext appends a new id to dst.
func (g *UniqIDGenerator) AppendNext(dst []byte) []byte { return g.AppendNextAt(dst, g.now()) }

// AppendNextAt is AppendNext for an id made at t (NextAt).
func (g *UniqIDGenerator) AppendNextAt(dst []byte, t time.Time) []byte {
	now := t.UnixMilli()
	w := g.window.Load()
	if now >= w.next {
		// Racing goroutines compute the same window; whichever store wins is right.
		w = g.monthOf(now)
		g.window.Store(w)
	}
	diff := int32(now - w.start)
	if diff < 0 && diff > -1_000_000 { // the clock stepped back across the month start (NTP)
		diff = 0
	}
	count := uint16(g.counter.Add(1) - 1)
	var tail [6]byte
	binary.BigEndian.PutUint32(tail[:], uint32(diff))
	binary.BigEndian.PutUint16(tail[4:], count)
	dst = append(dst, g.prefix[:g.prefixLen]...)
	return appendHex(dst, tail[:])
}

// UniqID is a parsed unique message id.
type UniqID struct {
	IP          netip.Addr
	PID         uint16
	ProcessHash uint32
	// MonthMillis is the milliseconds since the start of the month the id was made in,
	// in the producer's time zone.
	MonthMillis uint32
	Counter     uint16
}

// ParseUniqID parses a unique message id of 32 (IPv4) or 56 (IPv6) hex digits, either
// case (rocketmq-client-go writes lower case).
func ParseUniqID(id string) (UniqID, error) {
	var raw [16 + 2 + 4 + 4 + 2]byte
	ipLen := 4
	switch len(id) {
	case UniqIDLenV4:
	case UniqIDLenV6:
		ipLen = 16
	default:
		return UniqID{}, fmt.Errorf("message: %w: unique id %q has %d hex digits, want %d or %d",
			ErrInvalidID, id, len(id), UniqIDLenV4, UniqIDLenV6)
	}
	if err := decodeHex(raw[:len(id)/2], id); err != nil {
		return UniqID{}, fmt.Errorf("message: %w: unique id %q: %v", ErrInvalidID, id, err)
	}
	b := raw[ipLen:]
	return UniqID{
		IP:          addrFrom(raw[:ipLen]),
		PID:         binary.BigEndian.Uint16(b),
		ProcessHash: binary.BigEndian.Uint32(b[2:]),
		MonthMillis: binary.BigEndian.Uint32(b[6:]),
		Counter:     binary.BigEndian.Uint16(b[10:]),
	}, nil
}

// Time returns when the id was made, taking its month to be the one of now (in now's
// location) or, if that would put it at or after now, the month before: Java's
// MessageClientIDSetter.getNearlyTimeFromID.
func (u UniqID) Time(now time.Time) time.Time {
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	if start.UnixMilli()+int64(u.MonthMillis) >= now.UnixMilli() {
		start = start.AddDate(0, -1, 0)
	}
	return start.Add(time.Duration(u.MonthMillis) * time.Millisecond)
}
