package remoting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
)

// seedFrames adds every recorded frame to f's corpus.
func seedFrames(f *testing.F, add func(frame []byte)) {
	frames, err := recorded.Load()
	if err != nil {
		f.Fatalf("loading recordings: %v", err)
	}
	for _, fr := range frames {
		add(fr.Bytes)
	}
}

// FuzzDecodeFrame: any input either decodes to a command that re-encodes and decodes to
// the same command, or fails with a typed error; it never panics.
func FuzzDecodeFrame(f *testing.F) {
	seedFrames(f, func(frame []byte) { f.Add(frame) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := DecodeFrame(frame, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := c.AppendFrame(nil)
		if err != nil {
			// Decoded values that the other serialization cannot hold are refused, not mangled.
			return
		}
		again, err := DecodeFrame(out, 1<<20)
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v\n%q", err, out)
		}
		if again.Code != c.Code || again.Opaque != c.Opaque || again.Flag != c.Flag || again.Remark != c.Remark ||
			again.Version != c.Version || !bytes.Equal(again.Body, c.Body) || len(again.Ext) != len(c.Ext) {
			t.Fatalf("round trip changed the command:\n%v\n%v", c, again)
		}
		for i := range c.Ext {
			if again.Ext[i] != c.Ext[i] {
				t.Fatalf("extFields entry %d: %q became %q", i, c.Ext[i], again.Ext[i])
			}
		}
	})
}

// headerOf returns the header bytes of a recorded frame.
func headerOf(frame []byte) []byte {
	if len(frame) < 8 {
		return nil
	}
	n := int(binary.BigEndian.Uint32(frame[4:]) & maxHeaderLength)
	if 8+n > len(frame) {
		return nil
	}
	return frame[8 : 8+n]
}

// FuzzDecodeJSONHeader feeds arbitrary bytes to the JSON header decoder alone.
func FuzzDecodeJSONHeader(f *testing.F) {
	seedFrames(f, func(frame []byte) {
		if len(frame) > 4 && frame[4] == byte(JSON) {
			f.Add(headerOf(frame))
		}
	})
	f.Add([]byte(`{"code":1,"extFields":{0:"a",'b':"\u00e9\ud83d\ude00"},"remark":"\x41"}`))
	f.Fuzz(func(t *testing.T, header []byte) {
		var c Command
		if err := decodeJSONHeader(append([]byte(nil), header...), &c); err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// What decoded must encode to JSON that decodes to the same fields.
		c.Serialize = JSON
		out, err := c.AppendFrame(nil)
		if err != nil {
			t.Fatal(err)
		}
		var again Command
		if err := again.Decode(out[4:]); err != nil {
			t.Fatalf("re-encoded header does not decode: %v\n%q", err, out)
		}
		if again.Code != c.Code || len(again.Ext) != len(c.Ext) {
			t.Fatalf("round trip changed the header: %v -> %v", &c, &again)
		}
	})
}

// FuzzDecodeBinaryHeader feeds arbitrary bytes to the ROCKETMQ header decoder alone.
func FuzzDecodeBinaryHeader(f *testing.F) {
	seedFrames(f, func(frame []byte) {
		if len(frame) > 4 && frame[4] == byte(RocketMQ) {
			f.Add(headerOf(frame))
		}
	})
	f.Fuzz(func(t *testing.T, header []byte) {
		var c Command
		if err := decodeBinaryHeader(string(header), &c); err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		c.Serialize = RocketMQ
		out, err := c.AppendFrame(nil)
		if err != nil {
			t.Fatal(err)
		}
		// A decoded binary header re-encodes to exactly its bytes.
		if got := headerOf(out); !bytes.Equal(got, header) {
			t.Fatalf("re-encoded header differs:\n got %q\nwant %q", got, header)
		}
	})
}
