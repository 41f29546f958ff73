package store

import (
	"log/slog"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
)

// benchMsg is a 1 KiB message with the properties a Java producer sends.
func benchMsg(queueID int32) *message.Ext {
	m := newMsg("BenchTopic", queueID, bodyOf(1024, "bench"), "TagA")
	m.SetKeys("order-123")
	m.SetUniqKey("7F0000010D5C18B4AAC21B7E3A8F0000")
	m.SetWaitStoreMsgOK(true)
	return m
}

func benchStore(b *testing.B, cfg Config) *Store {
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 512 << 20 // keep the benchmark's memory bounded
	}
	return openStore(b, cfg)
}

func reportMsgs(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPut(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		s := benchStore(b, Config{})
		m := benchMsg(0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Put(m); err != nil {
				b.Fatal(err)
			}
		}
		reportMsgs(b, 1)
	})
	b.Run("parallel64", func(b *testing.B) {
		s := benchStore(b, Config{})
		b.ReportAllocs()
		b.SetParallelism(64 / max(1, testingProcs()))
		b.RunParallel(func(pb *testing.PB) {
			m := benchMsg(0)
			for pb.Next() {
				if _, err := s.Put(m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportMsgs(b, 1)
	})
	b.Run("batch32", func(b *testing.B) {
		s := benchStore(b, Config{})
		batch := make([]message.Ext, 32)
		for i := range batch {
			batch[i] = *benchMsg(0)
		}
		var results []PutResult
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if results, err = s.PutBatch(batch, results); err != nil {
				b.Fatal(err)
			}
		}
		reportMsgs(b, 32)
	})
}

// BenchmarkPutFile measures puts that reach the disk: group commit (every put waits for
// its fsync, concurrent puts share one) and a 100 ms flush interval.
func BenchmarkPutFile(b *testing.B) {
	b.Run("sync/parallel64", func(b *testing.B) {
		s := benchStore(b, Config{Dir: b.TempDir()})
		b.ReportAllocs()
		b.SetParallelism(64 / max(1, testingProcs()))
		b.RunParallel(func(pb *testing.PB) {
			m := benchMsg(0)
			for pb.Next() {
				if _, err := s.Put(m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportMsgs(b, 1)
	})
	b.Run("async/batch32", func(b *testing.B) {
		s := benchStore(b, Config{Dir: b.TempDir(), FlushInterval: 100 * time.Millisecond})
		batch := make([]message.Ext, 32)
		for i := range batch {
			batch[i] = *benchMsg(0)
		}
		var results []PutResult
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if results, err = s.PutBatch(batch, results); err != nil {
				b.Fatal(err)
			}
		}
		reportMsgs(b, 32)
	})
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b, Config{})
	const n = 1 << 16
	batch := make([]message.Ext, 32)
	for i := range batch {
		batch[i] = *benchMsg(0)
	}
	for range n / 32 {
		if _, err := s.PutBatch(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("32", func(b *testing.B) {
		var r GetResult
		off := int64(0)
		b.ReportAllocs()
		for b.Loop() {
			s.GetInto(&r, "BenchTopic", 0, off, 32, nil)
			if r.Status != Found || len(r.Messages) != 32 {
				b.Fatalf("%v %d", r.Status, len(r.Messages))
			}
			off = r.NextBeginOffset % n
		}
		reportMsgs(b, 32)
	})
	b.Run("32/tag-filter", func(b *testing.B) {
		var r GetResult
		off := int64(0)
		filter := tagsIs("TagA")
		b.ReportAllocs()
		for b.Loop() {
			s.GetInto(&r, "BenchTopic", 0, off, 32, filter)
			if r.Status != Found {
				b.Fatal(r.Status)
			}
			off = r.NextBeginOffset % n
		}
		reportMsgs(b, 32)
	})
}
