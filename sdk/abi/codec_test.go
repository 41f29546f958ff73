package abi

import (
	"errors"
	"testing"
)

func TestEncoderDecoderRoundTrip(t *testing.T) {
	size := SizeU8 + SizeU32*2 + SizeI64 + StrSize(5) + StrSize(3)
	e := Encoder{Buf: make([]byte, size)}
	e.U8(7)
	e.U32(0xdeadbeef)
	e.I32(-2)
	e.I64(-1 << 40)
	e.Str("hello")
	e.Bytes([]byte{1, 2, 3})
	if e.Off != size {
		t.Fatalf("wrote %d bytes, want %d", e.Off, size)
	}
	d := NewDecoder(e.Buf)
	if d.U8() != 7 || d.U32() != 0xdeadbeef || d.I32() != -2 || d.I64() != -1<<40 ||
		d.Str() != "hello" || string(d.Bytes()) != "\x01\x02\x03" || d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("round trip failed: err %v", d.Err())
	}
}

func TestAppendMatchesEncoder(t *testing.T) {
	var b []byte
	b = AppendU8(b, 1)
	b = AppendU32(b, 2)
	b = AppendI32(b, -3)
	b = AppendI64(b, 4)
	b = AppendStr(b, "x")
	b = AppendBytes(b, []byte("yz"))
	e := Encoder{Buf: make([]byte, len(b))}
	e.U8(1)
	e.U32(2)
	e.I32(-3)
	e.I64(4)
	e.Str("x")
	e.Bytes([]byte("yz"))
	if string(b) != string(e.Buf) {
		t.Fatalf("append %x != encoder %x", b, e.Buf)
	}
}

func TestDecoderRefusesTruncationAndHostileCounts(t *testing.T) {
	d := NewDecoder([]byte{5, 0, 0, 0, 'a'}) // str of 5 bytes, 1 present
	if s := d.Str(); s != "" || !errors.Is(d.Err(), ErrTruncated) {
		t.Fatalf("Str = %q, err %v", s, d.Err())
	}
	if d.U32() != 0 || d.I64() != 0 {
		t.Fatal("reads after an error must return zero")
	}
	d = NewDecoder([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0})
	if n := d.Count(4); n != 0 || d.Err() == nil {
		t.Fatalf("Count = %d, err %v", n, d.Err())
	}
	d = NewDecoder([]byte{2, 0, 0, 0, 1, 2})
	if n := d.Count(1); n != 2 || d.Err() != nil {
		t.Fatalf("Count = %d, err %v", n, d.Err())
	}
}

func TestResultPacking(t *testing.T) {
	p, n := UnpackResult(PackResult(0x12345678, 0x9abcdef0))
	if p != 0x12345678 || n != 0x9abcdef0 {
		t.Fatalf("got %x %x", p, n)
	}
}

func TestKindsAndEntries(t *testing.T) {
	for _, k := range []Kind{KindAllocate, KindSend, KindConsume, KindRPC} {
		if got, ok := ParseKind(k.String()); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v %v", k, got, ok)
		}
		if es := k.Entries(); len(es) < 2 || es[0] != EntryInit {
			t.Errorf("%v entries %v", k, es)
		}
	}
	if Kind(9).String() != "unknown kind 9" || Kind(9).Entries() != nil {
		t.Error("unknown kind")
	}
}
