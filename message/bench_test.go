package message

import (
	"net/netip"
	"testing"
)

// sink keeps results alive, so that the compiler cannot drop the work or its allocation.
var sink string

// A pull of 32 messages of 1 KiB with the properties a Java producer and broker set.
func BenchmarkDecodeStored(b *testing.B) {
	body := pullBody(b, 32, 1024)
	for _, mode := range []struct {
		name string
		d    Decoder
	}{{"copy", Decoder{}}, {"zerocopy", Decoder{ZeroCopy: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			d := mode.d
			var msgs []Ext
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if msgs, err = d.DecodeStored(msgs, body); err != nil || len(msgs) != 32 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/msg")
		})
	}
}

func BenchmarkDecodeStoredCompressed(b *testing.B) {
	e := sampleExt(mustCompress(b, pullBody(b, 1, 5000)))
	e.SysFlag = SysFlagCompressed | SysFlagCompressionZlib
	body := mustAppendStored(b, nil, &e)
	var d Decoder
	var msgs []Ext
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if msgs, err = d.DecodeStored(msgs, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendStored(b *testing.B) {
	msgs, err := DecodeStored(pullBody(b, 32, 1024))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := range msgs {
			buf, _ = AppendStored(buf, &msgs[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/msg")
}

func BenchmarkBatch(b *testing.B) {
	msgs := make([]Message, 32)
	for i := range msgs {
		msgs[i] = sampleExt(make([]byte, 1024)).Message
	}
	body, _ := AppendBatch(nil, msgs)
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, len(body))
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendBatch(buf[:0], msgs)
		}
	})
	b.Run("decode-zerocopy", func(b *testing.B) {
		d := Decoder{ZeroCopy: true}
		var out []Message
		b.ReportAllocs()
		for b.Loop() {
			out, _ = d.DecodeBatch(out, body)
		}
	})
}

func BenchmarkProperties(b *testing.B) {
	e := sampleExt(nil)
	s := e.Properties.Encode()
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = e.Properties.AppendTo(buf[:0])
		}
	})
	b.Run("encode-string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = e.Properties.Encode()
		}
	})
	b.Run("decode", func(b *testing.B) {
		var p Properties
		b.ReportAllocs()
		for b.Loop() {
			p.Parse(s)
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e.Properties.Get(PropertyKeys) == "" {
				b.Fatal()
			}
		}
	})
}

func BenchmarkUniqID(b *testing.B) {
	g := NewUniqIDGenerator(UniqIDConfig{IP: netip.MustParseAddr("192.0.2.2")})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = g.Next()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var id string
			for pb.Next() {
				id = g.Next()
			}
			sink = id
		})
	})
	b.Run("append", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			buf = g.AppendNext(buf[:0])
		}
	})
}

func BenchmarkOffsetMsgID(b *testing.B) {
	host := ap("127.0.0.1:10921")
	b.ReportAllocs()
	for b.Loop() {
		sink = OffsetMsgID(host, 7044)
	}
}

func BenchmarkCompress(b *testing.B) {
	body := pullBody(b, 1, 5000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := MaybeCompress(body, 0, DefaultCompressLevel); err != nil {
			b.Fatal(err)
		}
	}
}
