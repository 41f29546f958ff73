package store

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqgate/mqgate/message"
)

// validSegment returns n stored messages back to back from commit log offset 0, and the
// end of each.
func validSegment(tb testing.TB, n int) ([]byte, []int) {
	s := openStore(tb, Config{SegmentSize: 1 << 20})
	var ends []int
	for i := range n {
		m := newMsg("Fz", int32(i%2), bodyOf(20+i*13, "f%d", i), "TagF")
		r := mustPut(tb, s, m)
		ends = append(ends, int(r.CommitLogOffset)+int(r.StoreSize))
	}
	seg := s.segs.Load().segs[0]
	return bytes.Clone(seg.buf[:seg.pos]), ends
}

func seedSegments(f *testing.F) {
	data, ends := validSegment(f, 6)
	f.Add(data)
	f.Add(data[:ends[2]+17])
	f.Add(append(bytes.Clone(data), 0, 0, 0, 40, 0xCB, 0xD4, 0x31, 0x94))
	f.Add(append(bytes.Clone(data[:ends[1]]), 0, 0, 0, 8, 0xCB, 0xD4, 0x31, 0x94, 1, 2, 3))
	flipped := bytes.Clone(data)
	flipped[ends[3]-3] ^= 0x80
	f.Add(flipped)
	f.Add([]byte{})
	f.Add(make([]byte, 100))
	f.Add([]byte{0x7F, 0xFF, 0xFF, 0xFF, 0xDA, 0xA3, 0x20, 0xA7})
}

// FuzzScanSegment: the recovery scanner never panics, its valid prefix is within the data,
// and scanning the prefix alone accepts all of it the same way.
func FuzzScanSegment(f *testing.F) {
	seedSegments(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var offs []int64
		valid, next, cerr := scanSegment(data, 0, func(r *record, off int64) error {
			offs = append(offs, off)
			return nil
		})
		if valid < 0 || valid > len(data) {
			t.Fatalf("valid prefix %d of %d bytes", valid, len(data))
		}
		if cerr == nil && next < 0 && valid != len(data) {
			t.Fatalf("no error, no marker, but only %d of %d bytes valid", valid, len(data))
		}
		var again []int64
		valid2, next2, cerr2 := scanSegment(data[:valid], 0, func(r *record, off int64) error {
			again = append(again, off)
			d := message.Decoder{KeepCompressed: true}
			if _, err := d.DecodeStored(nil, data[off:off+int64(r.size)]); err != nil {
				t.Fatalf("a record the scanner accepts does not decode: %v", err)
			}
			return nil
		})
		if valid2 != valid || next2 != next || cerr2 != nil || len(again) != len(offs) {
			t.Fatalf("the prefix rescans to %d %d %v (%d records); first scan %d %d (%d records)", valid2, next2, cerr2, len(again), valid, next, len(offs))
		}
	})
}

// FuzzRecover: Open over a segment file of any content never panics, truncates the file
// to the scanner's valid prefix and serves exactly the messages in it.
func FuzzRecover(f *testing.F) {
	seedSegments(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "commitlog", segmentName(0))
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		records := 0
		valid, _, _ := scanSegment(data, 0, func(r *record, off int64) error {
			if dispatched(r.sysFlag) {
				records++
			}
			return nil
		})
		s, err := Open(Config{Dir: dir, SegmentSize: 1 << 20, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fi, err := os.Stat(path)
		if err != nil || fi.Size() > int64(valid) {
			t.Fatalf("file of %d bytes, valid prefix %d (%v)", fi.Size(), valid, err)
		}
		served := int64(0)
		for _, q := range s.Queues() {
			served += q.MaxOffset - q.MinOffset
			for off := q.MinOffset; off < q.MaxOffset; {
				r := s.Get(q.Topic, q.QueueID, off, 32, nil)
				if r.Status != Found {
					t.Fatalf("%s/%d at %d: %v", q.Topic, q.QueueID, off, r.Status)
				}
				off = r.NextBeginOffset
			}
		}
		if served > int64(records) {
			t.Fatalf("serves %d messages, the valid prefix holds %d", served, records)
		}
	})
}
