package message

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/remoting"
)

// checkDecodeError checks what every decoder promises of its errors.
func checkDecodeError(t *testing.T, err error, decoded, inputLen int) {
	t.Helper()
	if err == nil {
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("untyped error %v", err)
	}
	if de.Index != decoded || de.Offset < 0 || de.Offset > inputLen {
		t.Fatalf("error at message %d offset %d with %d decoded from %d bytes: %v", de.Index, de.Offset, decoded, inputLen, err)
	}
}

func FuzzDecodeStored(f *testing.F) {
	frames := recorded.MustLoad(f)
	for _, p := range recordedPulls(f, frames) {
		f.Add(p.respCmd.Body)
	}
	f.Add(mustDecodeFrame(f, recorded.Find(f, frames, "409-transaction-json-req39.bin")).Body)
	v6 := sampleExt([]byte("v6"))
	v6.BornHost, v6.StoreHost = ap("[::1]:1"), ap("[fd00::2]:10911")
	v6.Topic = string(bytes.Repeat([]byte("T"), 130))
	f.Add(mustAppendStored(f, nil, &v6))
	zipped := sampleExt(mustCompress(f, bytes.Repeat([]byte("z"), 5000)))
	zipped.SysFlag = SysFlagCompressed | SysFlagCompressionZlib
	f.Add(mustAppendStored(f, nil, &zipped))

	f.Fuzz(func(t *testing.T, data []byte) {
		limits := Decoder{MaxBodySize: 1 << 20, MaxInflatedTotal: 2 << 20}
		copied, zero, raw := limits, limits, limits
		zero.ZeroCopy, raw.ZeroCopy, raw.KeepCompressed = true, true, true
		msgs, err := copied.DecodeStored(nil, data)
		checkDecodeError(t, err, len(msgs), len(data))
		zmsgs, zerr := zero.DecodeStored(nil, bytes.Clone(data))
		if !reflect.DeepEqual(msgs, zmsgs) || (err == nil) != (zerr == nil) {
			t.Fatalf("zero-copy decode differs: %v / %v", err, zerr)
		}
		rmsgs, rerr := raw.DecodeStored(nil, data)
		checkDecodeError(t, rerr, len(rmsgs), len(data))
		if len(rmsgs) < len(msgs) {
			t.Fatalf("keeping bodies compressed decoded %d messages, inflating %d", len(rmsgs), len(msgs))
		}
		// What decodes re-encodes to what decodes the same, and encoding is then stable.
		var enc []byte
		for i := range rmsgs {
			var err error
			if enc, err = AppendStored(enc, &rmsgs[i]); err != nil {
				t.Fatalf("re-encoding message %d: %v", i, err)
			}
		}
		again, err := raw.DecodeStored(nil, enc)
		if err != nil || len(again) != len(rmsgs) {
			t.Fatalf("re-encoded body: %d messages of %d, %v", len(again), len(rmsgs), err)
		}
		for i := range again {
			a, b := again[i], rmsgs[i]
			a.StoreSize, a.BodyCRC, b.StoreSize, b.BodyCRC = 0, 0, 0, 0
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("message %d changed through re-encoding:\n%+v\n%+v", i, a, b)
			}
			enc2, _ := AppendStored(nil, &again[i])
			enc1, _ := AppendStored(nil, &rmsgs[i])
			if !bytes.Equal(enc1, enc2) {
				t.Fatalf("message %d: encoding is not stable", i)
			}
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	frames := recorded.MustLoad(f)
	for _, file := range []string{"013-send-json-req320.bin", "089-send-rocketmq-req320.bin", "447-go-send-json-req320.bin"} {
		f.Add(mustDecodeFrame(f, recorded.Find(f, frames, file)).Body)
	}
	b, _ := AppendBatch(nil, sampleBatch())
	f.Add(b)

	f.Fuzz(func(t *testing.T, data []byte) {
		var d, zero Decoder
		zero.ZeroCopy = true
		msgs, err := d.DecodeBatch(nil, data)
		checkDecodeError(t, err, len(msgs), len(data))
		zmsgs, _ := zero.DecodeBatch(nil, data)
		if !reflect.DeepEqual(msgs, zmsgs) {
			t.Fatal("zero-copy decode differs")
		}
		enc, err := AppendBatch(nil, msgs)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		again, err := d.DecodeBatch(nil, enc)
		if err != nil || len(again) != len(msgs) || (len(msgs) > 0 && !reflect.DeepEqual(again, msgs)) {
			t.Fatalf("re-encoded batch decodes to %d messages (%v), not the %d decoded", len(again), err, len(msgs))
		}
		if enc2, _ := AppendBatch(nil, again); !bytes.Equal(enc, enc2) {
			t.Fatal("encoding is not stable")
		}
	})
}

func FuzzDecodeProperties(f *testing.F) {
	for _, fr := range recorded.MustLoad(f) {
		switch remoting.RequestCode(fr.Code) {
		case remoting.SendMessageV2, remoting.SendBatchMessage:
			f.Add(fr.ExtFields["i"])
		case remoting.SendMessage:
			f.Add(fr.ExtFields["properties"])
		}
	}
	for _, s := range []string{"", "\x02", "\x01", "a\x01b\x01c", "a\x01b\x02\x02", "WAIT\x01true\x02WAIT\x01false"} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, s string) {
		p := ParseProperties(s)
		got := map[string]string{}
		i := 0
		for k, v := range p.All() {
			got[k] = v
			if at := p.At(i); at.Name != k || at.Value != v {
				t.Fatalf("%q: At(%d) = %q, All yields %q=%q", s, i, at, k, v)
			}
			i++
		}
		if want := javaString2Properties(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q parses to %q, Java's decoder gives %q", s, got, want)
		}
		enc := p.Encode()
		if len(enc) > len(s) || p.EncodedLen() != len(enc) || string(p.AppendTo(nil)) != enc {
			t.Fatalf("%q encodes to %q (EncodedLen %d)", s, enc, p.EncodedLen())
		}
		if again := ParseProperties(enc); !reflect.DeepEqual(again, p) {
			t.Fatalf("%q -> %q parses to %+v, not %+v", s, enc, again, p)
		}
	})
}
