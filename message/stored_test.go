package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestDecodeStoredRejectsHostileInput(t *testing.T) {
	e := sampleExt([]byte("hello rocketmq"))
	one := mustAppendStored(t, nil, &e)
	size := len(one)
	bodyLenAt := storedBornHostAt + 8 + 8 + 8 + 4 + 8 // v4 hosts
	topicLenAt := bodyLenAt + 4 + len(e.Body)
	propsLenAt := topicLenAt + 1 + len(e.Topic)
	put32 := func(at int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[at:], v); return b }
	}
	compressed := func(sysFlag uint32, body []byte) func([]byte) []byte {
		return func([]byte) []byte {
			c := sampleExt(body)
			c.SysFlag = int32(sysFlag)
			return mustAppendStored(t, nil, &c)
		}
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		err    error
		offset int
		n      int // messages decoded before the error
	}{
		{"three bytes cannot hold a total size", func(b []byte) []byte { return b[:3] }, ErrTruncated, 0, 0},
		{"total size below an empty message", put32(0, minStoredSize-1), ErrInvalidField, 0, 0},
		{"negative total size", put32(0, 0x80000000), ErrInvalidField, 0, 0},
		{"total size beyond the input", put32(0, uint32(size+1)), ErrTruncated, 0, 0},
		{"message cut short", func(b []byte) []byte { return b[:size-1] }, ErrTruncated, 0, 0},
		{"wrong magic code", put32(storedMagicAt, 0xCAFEBABE), ErrBadMagic, storedMagicAt, 0},
		{"negative body length", put32(bodyLenAt, 0xFFFFFFFF), ErrInvalidField, bodyLenAt, 0},
		{"body length beyond the message", put32(bodyLenAt, uint32(size)), ErrTruncated, bodyLenAt, 0},
		{"negative topic length", func(b []byte) []byte { b[topicLenAt] = 0x80; return b }, ErrInvalidField, topicLenAt, 0},
		{"topic length beyond the message", func(b []byte) []byte { b[topicLenAt] = 0x7F; return b }, ErrTruncated, topicLenAt, 0},
		{"negative properties length", func(b []byte) []byte { b[propsLenAt] = 0xFF; return b }, ErrInvalidField, propsLenAt, 0},
		{"properties length beyond the message", func(b []byte) []byte { b[propsLenAt] = 0x7F; return b }, ErrTruncated, propsLenAt, 0},
		{"fields end before the total size", func(b []byte) []byte {
			b = append(b, 0)
			binary.BigEndian.PutUint32(b, uint32(len(b)))
			return b
		}, ErrInvalidField, 0, 0},
		{"sysFlag claims an IPv6 host it does not have", func(b []byte) []byte {
			b[storedSysFlagAt+3] |= SysFlagStoreHostV6 // the body length is read 12 bytes late
			return b
		}, ErrTruncated, bodyLenAt + 12, 0},
		{"sysFlag claims IPv6 hosts the size cannot hold", func(b []byte) []byte {
			b = b[:storedBornHostAt+8+8+8+4+8+4+1+2]
			binary.BigEndian.PutUint32(b, uint32(len(b)))
			b[storedSysFlagAt+3] |= SysFlagBornHostV6 | SysFlagStoreHostV6
			return b
		}, ErrTruncated, 0, 0},
		{"born port out of range", put32(storedBornHostAt+4, 70000), ErrInvalidField, storedBornHostAt, 0},
		{"store port negative", put32(storedBornHostAt+8+8+4, 0xFFFFFFFF), ErrInvalidField, storedBornHostAt + 16, 0},
		{"second message truncated", func(b []byte) []byte { return append(b, b[:size-5]...) }, ErrTruncated, size, 1},
		{"trailing bytes after a message", func(b []byte) []byte { return append(b, 0, 0) }, ErrTruncated, size, 1},
		{"compressed body that is not zlib", compressed(SysFlagCompressed|SysFlagCompressionZlib, []byte("not zlib at all")), ErrCorruptBody, bodyLenAt + 4, 0},
		{"LZ4 body", compressed(SysFlagCompressed|SysFlagCompressionLZ4, []byte("lz4")), ErrUnsupportedCompression, storedSysFlagAt, 0},
		{"ZSTD body", compressed(SysFlagCompressed|SysFlagCompressionZSTD, []byte("zstd")), ErrUnsupportedCompression, storedSysFlagAt, 0},
		{"unknown compression type", compressed(SysFlagCompressed|5<<8, []byte("?")), ErrInvalidField, storedSysFlagAt, 0},
		{"truncated zlib stream", compressed(SysFlagCompressed, mustCompress(t, []byte(strings.Repeat("abc", 1000)))[:20]), ErrCorruptBody, bodyLenAt + 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.mutate(bytes.Clone(one))
			for _, d := range []*Decoder{{}, {ZeroCopy: true}} {
				msgs, err := d.DecodeStored(nil, in)
				var de *DecodeError
				if !errors.As(err, &de) || !errors.Is(err, tc.err) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want a DecodeError wrapping %v", err, tc.err)
				}
				if de.Offset != tc.offset || len(msgs) != tc.n || de.Index != tc.n {
					t.Errorf("error at message %d offset %d with %d decoded, want %d at %d: %v",
						de.Index, de.Offset, len(msgs), tc.n, tc.offset, err)
				}
			}
		})
	}
}

func mustCompress(tb testing.TB, b []byte) []byte {
	tb.Helper()
	out, err := CompressBody(nil, b, DefaultCompressLevel)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestDecodeStoredEmptyInputIsNoMessages(t *testing.T) {
	msgs, err := DecodeStored(nil)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
}

// An inflation bomb costs at most the limit: a 64 MiB body of zeros compresses to 64 KiB.
func TestDecodeStoredBoundsInflation(t *testing.T) {
	bomb := sampleExt(mustCompress(t, make([]byte, 64<<20)))
	bomb.SysFlag = SysFlagCompressed | SysFlagCompressionZlib
	in := mustAppendStored(t, nil, &bomb)
	d := Decoder{MaxBodySize: 1 << 20}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	msgs, err := d.DecodeStored(nil, in)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMessageTooLarge) || len(msgs) != 0 {
		t.Fatalf("%d messages, err %v, want ErrMessageTooLarge", len(msgs), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("allocated %d bytes refusing a bomb with a 1 MiB limit", alloc)
	}
	t.Log(err)
}

// The per-call bound stops many bodies that are each within the per-body bound.
func TestDecodeStoredBoundsInflatedTotal(t *testing.T) {
	var in []byte
	for range 3 {
		e := sampleExt(mustCompress(t, make([]byte, 1<<20)))
		e.SysFlag = SysFlagCompressed | SysFlagCompressionZlib
		in = mustAppendStored(t, in, &e)
	}
	d := Decoder{MaxInflatedTotal: 5 << 19} // 2.5 MiB
	msgs, err := d.DecodeStored(nil, in)
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrMessageTooLarge) || de.Index != 2 || len(msgs) != 2 {
		t.Fatalf("%d messages, err %v; want 2 and ErrMessageTooLarge at message 2", len(msgs), err)
	}
	if len(msgs[0].Body) != 1<<20 || len(msgs[1].Body) != 1<<20 {
		t.Errorf("bodies of %d and %d bytes", len(msgs[0].Body), len(msgs[1].Body))
	}
	d.MaxInflatedTotal = 0
	if msgs, err = d.DecodeStored(msgs, in); err != nil || len(msgs) != 3 {
		t.Fatalf("with the default total: %d messages, %v", len(msgs), err)
	}
}

func TestStoredRoundTrip(t *testing.T) {
	long := strings.Repeat("T", 200)
	tests := []struct {
		name  string
		ext   func() Ext
		check func(t *testing.T, e *Ext, encoded []byte)
	}{
		{"IPv4 hosts", func() Ext { return sampleExt([]byte("hello")) }, func(t *testing.T, e *Ext, b []byte) {
			if e.SysFlag != 0 || len(e.OffsetMsgID()) != 32 {
				t.Errorf("sysFlag %#x offset id %s", e.SysFlag, e.OffsetMsgID())
			}
		}},
		{"IPv6 hosts set the host bits", func() Ext {
			e := sampleExt([]byte("hello"))
			e.BornHost, e.StoreHost = ap("[2001:db8::1]:40000"), ap("[fd00::2]:10911")
			return e
		}, func(t *testing.T, e *Ext, b []byte) {
			if e.SysFlag != SysFlagBornHostV6|SysFlagStoreHostV6 {
				t.Errorf("sysFlag %#x", e.SysFlag)
			}
			id := e.OffsetMsgID()
			host, off, err := ParseOffsetMsgID(id)
			if len(id) != OffsetMsgIDLenV6 || host != e.StoreHost || off != e.CommitLogOffset || err != nil {
				t.Errorf("offset id %s -> %v %d %v", id, host, off, err)
			}
		}},
		{"only the born host IPv6", func() Ext {
			e := sampleExt([]byte("x"))
			e.BornHost = ap("[::1]:1")
			return e
		}, func(t *testing.T, e *Ext, b []byte) {
			if e.SysFlag != SysFlagBornHostV6 {
				t.Errorf("sysFlag %#x", e.SysFlag)
			}
		}},
		{"a topic over 127 bytes takes the V2 magic", func() Ext {
			e := sampleExt([]byte("x"))
			e.Topic = long
			return e
		}, func(t *testing.T, e *Ext, b []byte) {
			if int32(binary.BigEndian.Uint32(b[4:])) != MagicCodeV2 || e.Topic != long {
				t.Errorf("magic %#x topic %d bytes", b[4:8], len(e.Topic))
			}
		}},
		{"empty body and no properties", func() Ext {
			e := sampleExt(nil)
			e.Properties = Properties{}
			return e
		}, func(t *testing.T, e *Ext, b []byte) {
			if e.Body != nil || e.Properties.Len() != 0 || len(b) != minStoredSize+len(e.Topic) {
				t.Errorf("body %q, %d properties, %d bytes", e.Body, e.Properties.Len(), len(b))
			}
		}},
		{"every fixed field", func() Ext {
			e := sampleExt([]byte("x"))
			e.QueueID, e.Flag, e.QueueOffset, e.CommitLogOffset = -1, 1<<30, 1<<40, 1<<50
			e.SysFlag = SysFlagTransactionCommit | SysFlagMultiTags
			e.ReconsumeTimes, e.PreparedTransactionOffset = 16, 123456789
			return e
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.ext()
			b := mustAppendStored(t, nil, &want)
			msgs, err := DecodeStored(b)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("%d messages, %v", len(msgs), err)
			}
			got := &msgs[0]
			if got.StoreSize != int32(len(b)) || got.BodyCRC != BodyCRC(want.Body) {
				t.Errorf("store size %d CRC %d, want %d %d", got.StoreSize, got.BodyCRC, len(b), BodyCRC(want.Body))
			}
			cmp := *got
			cmp.StoreSize, cmp.BodyCRC, cmp.SysFlag = 0, 0, want.SysFlag
			if !reflect.DeepEqual(cmp, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", cmp, want)
			}
			if again := mustAppendStored(t, nil, got); !bytes.Equal(again, b) {
				t.Errorf("re-encodes differently")
			}
			if tc.check != nil {
				tc.check(t, got, b)
			}
		})
	}
}

// A compressed message inflates by default and stays as stored with KeepCompressed;
// a decoded-and-inflated message re-encodes as an uncompressed one.
func TestStoredCompressedBody(t *testing.T) {
	plain := []byte(strings.Repeat("compress me ", 1000))
	body, sysFlag, err := MaybeCompress(plain, 0, DefaultCompressLevel)
	if err != nil || sysFlag != 0x301 || len(body) >= len(plain) {
		t.Fatalf("MaybeCompress: %d bytes sysFlag %#x %v", len(body), sysFlag, err)
	}
	e := sampleExt(body)
	e.SysFlag = sysFlag | SysFlagTransactionCommit
	in := mustAppendStored(t, nil, &e)

	raw, err := (&Decoder{KeepCompressed: true}).DecodeStored(nil, in)
	if err != nil || !bytes.Equal(raw[0].Body, body) || raw[0].SysFlag != e.SysFlag {
		t.Fatalf("KeepCompressed: sysFlag %#x, %v", raw[0].SysFlag, err)
	}
	msgs, err := DecodeStored(in)
	if err != nil || !bytes.Equal(msgs[0].Body, plain) || msgs[0].SysFlag != SysFlagTransactionCommit {
		t.Fatalf("inflated %d bytes, sysFlag %#x, %v", len(msgs[0].Body), msgs[0].SysFlag, err)
	}
	if msgs[0].StoreSize != int32(len(in)) || msgs[0].BodyCRC != BodyCRC(body) {
		t.Errorf("StoreSize %d BodyCRC %d, want the stored %d %d", msgs[0].StoreSize, msgs[0].BodyCRC, len(in), BodyCRC(body))
	}
	again, err := DecodeStored(mustAppendStored(t, nil, &msgs[0]))
	if err != nil || !bytes.Equal(again[0].Body, plain) {
		t.Fatalf("re-encoded inflated message: %v", err)
	}

	// Bodies compressed before 4.9.4 carry no type bits: zlib.
	e.SysFlag = SysFlagCompressed
	if msgs, err := DecodeStored(mustAppendStored(t, nil, &e)); err != nil || !bytes.Equal(msgs[0].Body, plain) {
		t.Fatalf("legacy compressed body: %v", err)
	}
	if small, flag, _ := MaybeCompress([]byte("small"), 0, DefaultCompressLevel); flag != 0 || string(small) != "small" {
		t.Errorf("a small body was compressed: %#x", flag)
	}
	if _, err := CompressBody(nil, plain, 10); err == nil {
		t.Error("level 10 accepted")
	}
}

// Reusing the destination slice reuses the elements and property lists; nothing leaks from
// one call to the next.
func TestDecodeStoredReusesDestination(t *testing.T) {
	in := pullBody(t, 4, 100)
	var d Decoder
	msgs, err := d.DecodeStored(nil, in)
	if err != nil || len(msgs) != 4 {
		t.Fatal(err)
	}
	props := &msgs[0].Properties.list[0]
	small := sampleExt([]byte("other"))
	small.Properties = Properties{}
	small.SetTags("TagX")
	msgs, err = d.DecodeStored(msgs, mustAppendStored(t, nil, &small))
	if err != nil || len(msgs) != 1 {
		t.Fatal(err)
	}
	if &msgs[0].Properties.list[0] != props {
		t.Error("property list not reused")
	}
	if msgs[0].Keys() != "" || msgs[0].Tags() != "TagX" || string(msgs[0].Body) != "other" || msgs[0].QueueOffset != 42 {
		t.Errorf("stale fields: %+v", msgs[0])
	}
}

func TestAppendStoredRefusesWhatDoesNotFit(t *testing.T) {
	e := sampleExt([]byte("x"))
	e.Properties.Set("big", strings.Repeat("v", 1<<15))
	dst := []byte("keep")
	out, err := AppendStored(dst, &e)
	if !errors.Is(err, ErrMessageTooLarge) || string(out) != "keep" {
		t.Errorf("oversized properties: %q %v", out, err)
	}
	e = sampleExt([]byte("x"))
	e.Topic = strings.Repeat("t", 1<<15)
	if _, err := AppendStored(nil, &e); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("oversized topic: %v", err)
	}
}

func TestBodyCRCMatchesJava(t *testing.T) {
	// Java: UtilAll.crc32("hello rocketmq".getBytes()) as stored in frame 220.
	if got := BodyCRC([]byte("hello rocketmq")); got != 1932557065 {
		t.Errorf("got %d", got)
	}
	if got := BodyCRC(nil); got != 0 {
		t.Errorf("empty body: %d", got)
	}
}

func TestAppendStoredWritesAZeroHostAsIPv4(t *testing.T) {
	zero, explicit := sampleExt([]byte("x")), sampleExt([]byte("x"))
	zero.BornHost, zero.StoreHost = netip.AddrPort{}, netip.AddrPort{}
	explicit.BornHost, explicit.StoreHost = ap("0.0.0.0:0"), ap("0.0.0.0:0")
	if a, b := mustAppendStored(t, nil, &zero), mustAppendStored(t, nil, &explicit); !bytes.Equal(a, b) {
		t.Errorf("zero hosts encode as\n%q\nnot\n%q", a, b)
	}
	if id := zero.OffsetMsgID(); id != "00000000000000000000000000000BA1" {
		t.Errorf("offset id %s", id)
	}
}
