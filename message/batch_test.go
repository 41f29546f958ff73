package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleBatch() []Message {
	msgs := make([]Message, 3)
	for i := range msgs {
		m := &msgs[i]
		m.Topic = "RecTopic"
		m.Body = []byte(sprintf("batch body %d", i))
		m.Flag = int32(i)
		m.SetKeys(sprintf("batch-%d", i))
		m.SetTags("TagB")
	}
	msgs[2].Properties = Properties{} // a message without properties
	return msgs
}

func TestBatchRoundTrip(t *testing.T) {
	msgs := sampleBatch()
	b, err := AppendBatch([]byte("x"), msgs)
	if err != nil || b[0] != 'x' {
		t.Fatal(err)
	}
	b = b[1:]
	// Java's layout: size, magic 0, CRC 0, flag, body, properties.
	if size := binary.BigEndian.Uint32(b); size != uint32(batchMessageHeader+12+2+len("KEYS\x01batch-0\x02TAGS\x01TagB")) ||
		binary.BigEndian.Uint64(b[4:]) != 0 {
		t.Errorf("first message header % x", b[:20])
	}
	for _, d := range []*Decoder{{}, {ZeroCopy: true}} {
		got, err := d.DecodeBatch(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].Topic = "RecTopic"
		}
		if !reflect.DeepEqual(got, msgs) {
			t.Errorf("ZeroCopy=%v: decoded\n%+v\nwant\n%+v", d.ZeroCopy, got, msgs)
		}
	}
	if got, err := DecodeBatch(nil); err != nil || len(got) != 0 {
		t.Errorf("empty batch: %d %v", len(got), err)
	}
}

func TestDecodeBatchRejectsHostileInput(t *testing.T) {
	one, _ := AppendBatch(nil, sampleBatch()[:1])
	size := len(one)
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		err    error
		offset int
		n      int
	}{
		{"header cut short", func(b []byte) []byte { return b[:10] }, ErrTruncated, 0, 0},
		{"total size below an empty message", func(b []byte) []byte { binary.BigEndian.PutUint32(b, 5); return b }, ErrInvalidField, 0, 0},
		{"total size beyond the input", func(b []byte) []byte { binary.BigEndian.PutUint32(b, 1<<30); return b }, ErrTruncated, 0, 0},
		{"negative body length", func(b []byte) []byte { binary.BigEndian.PutUint32(b[16:], 1<<31); return b }, ErrInvalidField, 16, 0},
		{"body length beyond the message", func(b []byte) []byte { binary.BigEndian.PutUint32(b[16:], 1000); return b }, ErrTruncated, 16, 0},
		{"negative properties length", func(b []byte) []byte { b[20+12] = 0x80; return b }, ErrInvalidField, 32, 0},
		{"properties length beyond the message", func(b []byte) []byte { b[20+12] = 0x70; return b }, ErrTruncated, 32, 0},
		{"total size larger than the fields", func(b []byte) []byte {
			b = append(b, 0)
			binary.BigEndian.PutUint32(b, uint32(len(b)))
			return b
		}, ErrInvalidField, 0, 0},
		{"second message truncated", func(b []byte) []byte { return append(b, b[:size-1]...) }, ErrTruncated, size, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := DecodeBatch(tc.mutate(bytes.Clone(one)))
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if de.Offset != tc.offset || de.Index != tc.n || len(msgs) != tc.n {
				t.Errorf("message %d offset %d, %d decoded; want %d %d: %v", de.Index, de.Offset, len(msgs), tc.n, tc.offset, err)
			}
		})
	}
}

func TestAppendBatchRefusesOversizedProperties(t *testing.T) {
	msgs := sampleBatch()
	msgs[1].Properties.Set("big", strings.Repeat("v", 1<<15))
	out, err := AppendBatch([]byte("keep"), msgs)
	if !errors.Is(err, ErrMessageTooLarge) || string(out) != "keep" {
		t.Errorf("%q %v", out, err)
	}
}
