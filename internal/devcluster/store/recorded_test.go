package store

import (
	"strconv"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

// TestRecordedPullScenario replays the pull-json recording of a real 4.9.4 broker
// (frames 031-064: queue 1 of RecTopic) against the store: the same messages put at the
// same commit log offsets and store times must be served byte for byte, with the
// statuses, next offsets and min/max offsets the broker answered.
func TestRecordedPullScenario(t *testing.T) {
	frames := recorded.MustLoad(t)
	body := func(file string) []byte {
		c, err := remoting.DecodeFrame(recorded.Find(t, frames, file).Bytes, 0)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return c.Body
	}
	ext := func(file, field string) int64 {
		f := recorded.Find(t, frames, file)
		n, err := strconv.ParseInt(f.ExtFields[field], 10, 64)
		if err != nil {
			t.Fatalf("%s: %s=%q", file, field, f.ExtFields[field])
		}
		return n
	}
	// stored decodes the one message of a recorded pull body, as the broker stored it.
	stored := func(raw []byte) message.Ext {
		d := message.Decoder{ZeroCopy: true, KeepCompressed: true}
		msgs, err := d.DecodeStored(nil, raw)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("decoding a recorded body: %v", err)
		}
		return msgs[0]
	}
	first, second := body("054-pull-json-resp0.bin"), body("064-pull-json-resp0.bin")
	m0, m1 := stored(first), stored(second)

	clock := newFakeClock(0)
	s := openStore(t, Config{Clock: clock.now, StoreHost: m0.StoreHost})
	// fill puts a message of another topic that takes the commit log to offset `to`,
	// where the recorded broker stored the next RecTopic message.
	fill := func(to int64) {
		n := int(to - s.MaxCommitLogOffset())
		m := newMsg("F", 0, nil, "")
		m.Properties = message.Properties{}
		m.Body = make([]byte, n-92) // a stored message with a 1-byte topic and no properties is 92 bytes + body
		if r := mustPut(t, s, m); r.CommitLogOffset+int64(r.StoreSize) != to {
			t.Fatalf("filler ends at %d, want %d", r.CommitLogOffset+int64(r.StoreSize), to)
		}
	}
	put := func(m message.Ext) {
		fill(m.CommitLogOffset)
		clock.set(m.StoreTimestamp)
		r := mustPut(t, s, &m)
		if r.CommitLogOffset != m.CommitLogOffset || r.QueueOffset != m.QueueOffset {
			t.Fatalf("put at %d/%d, the broker stored it at %d/%d", r.CommitLogOffset, r.QueueOffset, m.CommitLogOffset, m.QueueOffset)
		}
	}
	put(m0)

	// 031/049 GET_MAX_OFFSET, 032/050 GET_MIN_OFFSET, 035/053 SEARCH_OFFSET_BY_TIMESTAMP.
	if got, want := s.MaxOffset("RecTopic", 1), ext("049-pull-json-resp0.bin", "offset"); got != want {
		t.Errorf("max offset %d, broker said %d", got, want)
	}
	if got, want := s.MinOffset("RecTopic", 1), ext("050-pull-json-resp0.bin", "offset"); got != want {
		t.Errorf("min offset %d, broker said %d", got, want)
	}
	if got, want := s.SearchOffset("RecTopic", 1, ext("035-pull-json-req29.bin", "timestamp")), ext("053-pull-json-resp0.bin", "offset"); got != want {
		t.Errorf("search by time %d, broker said %d", got, want)
	}

	pulls := []struct {
		req, resp string
		before    func()
		body      []byte
	}{
		{"036-pull-json-req11.bin", "054-pull-json-resp0.bin", nil, first},
		{"037-pull-json-req11.bin", "055-pull-json-resp20.bin", nil, nil},
		{"039-pull-json-req11.bin", "057-pull-json-resp19.bin", nil, nil},
		{"041-pull-json-req11.bin", "059-pull-json-resp21.bin", nil, nil},
		// The long poll: held by the broker until 073's send stored the second message.
		{"043-pull-json-req11.bin", "064-pull-json-resp0.bin", func() { put(m1) }, second},
	}
	for _, p := range pulls {
		t.Run(p.resp, func(t *testing.T) {
			if p.before != nil {
				p.before()
			}
			req := recorded.Find(t, frames, p.req)
			resp := recorded.Find(t, frames, p.resp)
			var filter Filter
			if sub := req.ExtFields["subscription"]; sub != "*" {
				filter = tagsIs(sub)
			}
			maxMsgs, _ := strconv.Atoi(req.ExtFields["maxMsgNums"])
			got := s.Get(req.ExtFields["topic"], 1, ext(p.req, "queueOffset"), int32(maxMsgs), filter)
			remark := ""
			if resp.Remark != nil {
				remark = *resp.Remark
			}
			if got.Status.String() != remark {
				t.Errorf("status %v, broker said %s", got.Status, remark)
			}
			for field, v := range map[string]int64{"nextBeginOffset": got.NextBeginOffset, "minOffset": got.MinOffset, "maxOffset": got.MaxOffset} {
				if want := ext(p.resp, field); v != want {
					t.Errorf("%s %d, broker said %d", field, v, want)
				}
			}
			var pulled []byte
			for _, m := range got.Messages {
				pulled = append(pulled, m...)
			}
			equalBytes(t, "pull bodies", pulled, p.body)
		})
	}
}
