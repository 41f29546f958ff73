package store

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/mqgate/mqgate/message"
)

func TestPutGetRoundTrip(t *testing.T) {
	clock := newFakeClock(1795565703997)
	s := openStore(t, Config{Clock: clock.now})

	v6 := newMsg("RoundTrip", 3, []byte("born over IPv6"), "TagA")
	v6.BornHost = netip.MustParseAddrPort("[2001:db8::1]:4242")
	compressed := newMsg("RoundTrip", 3, []byte{0x78, 0x9c, 0x01, 0x02}, "")
	compressed.SysFlag = message.SysFlagCompressed | message.SysFlagCompressionZlib
	retried := newMsg("%RETRY%cg", 0, []byte("again"), "TagB")
	retried.ReconsumeTimes = 3
	retried.Flag = 7
	retried.Properties.Set(message.PropertyKeys, "k1 k2")
	committed := newMsg("RoundTrip", 3, []byte("commit"), "")
	committed.SysFlag = message.SysFlagTransactionCommit
	committed.PreparedTransactionOffset = 1234
	tests := []struct {
		name string
		msg  *message.Ext
	}{
		{"message with tags and keys", newMsg("RoundTrip", 3, bodyOf(1024, "one KiB"), "TagA")},
		{"empty body", newMsg("RoundTrip", 3, nil, "")},
		{"born host IPv6 sets the sysFlag bit", v6},
		{"compressed body is stored as it is", compressed},
		{"retry message keeps flag, reconsume times and properties", retried},
		{"committed transaction keeps its prepared offset", committed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.advance(3)
			before := s.MaxOffset(tt.msg.Topic, tt.msg.QueueID)
			r := mustPut(t, s, tt.msg)
			if r.QueueOffset != before || r.StoreTimestamp != clock.ms.Load() || r.StoreHost != testStoreHost {
				t.Fatalf("result %+v, want queue offset %d, store time %d", r, before, clock.ms.Load())
			}
			got := s.Get(tt.msg.Topic, tt.msg.QueueID, r.QueueOffset, 1, nil)
			if got.Status != Found || len(got.Messages) != 1 || got.NextBeginOffset != r.QueueOffset+1 {
				t.Fatalf("Get: %v, %d messages, next %d", got.Status, len(got.Messages), got.NextBeginOffset)
			}
			raw := got.Messages[0]
			var d message.Decoder
			d.KeepCompressed = true
			msgs, err := d.DecodeStored(nil, raw)
			if err != nil {
				t.Fatal(err)
			}
			e := msgs[0]
			want := tt.msg.Clone()
			want.QueueOffset, want.CommitLogOffset, want.StoreTimestamp = r.QueueOffset, r.CommitLogOffset, r.StoreTimestamp
			want.StoreHost, want.StoreSize, want.BodyCRC = testStoreHost, r.StoreSize, message.BodyCRC(tt.msg.Body)
			if e.SysFlag&^(message.SysFlagBornHostV6|message.SysFlagStoreHostV6) != tt.msg.SysFlag {
				t.Fatalf("sysFlag %#x, put %#x", e.SysFlag, tt.msg.SysFlag)
			}
			want.SysFlag = e.SysFlag // host bits are the encoder's; checked below
			if !equalExt(&e, &want) {
				t.Fatalf("stored\n%+v\nwant\n%+v", e, want)
			}
			if v6bit := e.SysFlag&message.SysFlagBornHostV6 != 0; v6bit != tt.msg.BornHost.Addr().Is6() {
				t.Fatalf("sysFlag %#x for born host %v", e.SysFlag, tt.msg.BornHost)
			}
			if int(r.StoreSize) != len(raw) {
				t.Fatalf("store size %d, stored %d bytes", r.StoreSize, len(raw))
			}
			if id := r.OffsetMsgID(); id != e.OffsetMsgID() || string(r.AppendOffsetMsgID(nil)) != id {
				t.Fatalf("offset msg id %s, stored message's %s", id, e.OffsetMsgID())
			}
			host, off, err := message.ParseOffsetMsgID(r.OffsetMsgID())
			if err != nil || host != testStoreHost || off != r.CommitLogOffset {
				t.Fatalf("offset msg id %s parses to %v %d %v", r.OffsetMsgID(), host, off, err)
			}
			at, err := s.ReadAt(r.CommitLogOffset)
			if err != nil || !bytes.Equal(at, raw) {
				t.Fatalf("ReadAt: %v, equal %v", err, bytes.Equal(at, raw))
			}
			looked, err := s.Lookup(r.CommitLogOffset)
			if err != nil || !equalExt(&looked, &e) {
				t.Fatalf("Lookup: %v\n%+v\nwant\n%+v", err, looked, e)
			}
		})
	}
}

func equalExt(a, b *message.Ext) bool {
	return a.Topic == b.Topic && a.Flag == b.Flag && bytes.Equal(a.Body, b.Body) &&
		a.Properties.Encode() == b.Properties.Encode() && a.QueueID == b.QueueID &&
		a.QueueOffset == b.QueueOffset && a.CommitLogOffset == b.CommitLogOffset &&
		a.StoreSize == b.StoreSize && a.SysFlag == b.SysFlag && a.BodyCRC == b.BodyCRC &&
		a.BornTimestamp == b.BornTimestamp && a.BornHost == b.BornHost &&
		a.StoreTimestamp == b.StoreTimestamp && a.StoreHost == b.StoreHost &&
		a.ReconsumeTimes == b.ReconsumeTimes && a.PreparedTransactionOffset == b.PreparedTransactionOffset
}

func TestPutBatch(t *testing.T) {
	clock := newFakeClock(1000)
	var arrivals []int64
	s := openStore(t, Config{Clock: clock.now, OnArrival: func(topic string, q int32, max int64) {
		arrivals = append(arrivals, max)
	}})
	mustPut(t, s, newMsg("Batch", 1, []byte("first"), ""))
	msgs := make([]message.Ext, 32)
	for i := range msgs {
		msgs[i] = *newMsg("Batch", 1, bodyOf(100, "batch %d", i), "")
	}
	clock.advance(5)
	res, err := s.PutBatch(msgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 32 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		if r.QueueOffset != int64(1+i) || r.StoreTimestamp != 1005 {
			t.Fatalf("message %d: %+v", i, r)
		}
		if i > 0 && r.CommitLogOffset != res[i-1].CommitLogOffset+int64(res[i-1].StoreSize) {
			t.Fatalf("message %d at %d, previous ends at %d", i, r.CommitLogOffset, res[i-1].CommitLogOffset+int64(res[i-1].StoreSize))
		}
	}
	if !slices.Equal(arrivals, []int64{1, 33}) {
		t.Fatalf("arrivals %v, want [1 33]: one per put, with the new max", arrivals)
	}
	got := s.Get("Batch", 1, 1, 32, nil)
	if got.Status != Found || len(got.Messages) != 32 || got.NextBeginOffset != 33 {
		t.Fatalf("Get: %v, %d, next %d", got.Status, len(got.Messages), got.NextBeginOffset)
	}
	for i, raw := range got.Messages {
		if e := decodeOne(t, raw); !bytes.Equal(e.Body, msgs[i].Body) {
			t.Fatalf("message %d body %q", i, e.Body)
		}
	}
}

func TestPutRefuses(t *testing.T) {
	s := openStore(t, Config{SegmentSize: 64 << 10, MaxMessageSize: 32 << 10})
	bigProps := newMsg("T", 0, nil, "")
	bigProps.Properties.Set("big", strings.Repeat("x", 40000))
	prepared := *newMsg("T", 0, nil, "")
	prepared.SysFlag = message.SysFlagTransactionPrepared
	tests := []struct {
		name  string
		batch []message.Ext
		want  error
	}{
		{"no topic", []message.Ext{*newMsg("", 0, nil, "")}, ErrInvalidMessage},
		{"negative queue id", []message.Ext{*newMsg("T", -1, nil, "")}, ErrInvalidMessage},
		{"body over the max message size", []message.Ext{*newMsg("T", 0, make([]byte, 32<<10+1), "")}, ErrMessageTooLarge},
		{"properties over 32767 bytes", []message.Ext{*bigProps}, ErrMessageTooLarge},
		{"batch of two queues", []message.Ext{*newMsg("T", 0, nil, ""), *newMsg("T", 1, nil, "")}, ErrInvalidMessage},
		{"batch with a transactional half message", []message.Ext{*newMsg("T", 0, nil, ""), prepared}, ErrInvalidMessage},
		{"batch larger than a segment", slices.Repeat([]message.Ext{*newMsg("T", 0, make([]byte, 30<<10), "")}, 3), ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if len(tt.batch) == 1 {
				_, err = s.Put(&tt.batch[0])
			} else {
				_, err = s.PutBatch(tt.batch, nil)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if s.MaxCommitLogOffset() != 0 || len(s.Queues()) != 0 {
				t.Fatalf("something was stored: max commit log offset %d, queues %v", s.MaxCommitLogOffset(), s.Queues())
			}
		})
	}
	t.Run("after Close", func(t *testing.T) {
		s.Close()
		if _, err := s.Put(newMsg("T", 0, nil, "")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Put after Close: %v", err)
		}
		if _, err := s.PutBatch([]message.Ext{*newMsg("T", 0, nil, "")}, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("PutBatch after Close: %v", err)
		}
	})
}

func TestTransactionalHalfMessagesEnterNoQueue(t *testing.T) {
	var arrivals int
	s := openStore(t, Config{OnArrival: func(string, int32, int64) { arrivals++ }})
	mustPut(t, s, newMsg("Tx", 0, []byte("normal"), ""))
	for _, flag := range []int32{message.SysFlagTransactionPrepared, message.SysFlagTransactionRollback} {
		m := newMsg("Tx", 0, []byte("half"), "")
		m.SysFlag = flag
		r := mustPut(t, s, m)
		if r.QueueOffset != 0 {
			t.Fatalf("sysFlag %#x: queue offset %d, Java stores 0", flag, r.QueueOffset)
		}
		if e, err := s.Lookup(r.CommitLogOffset); err != nil || e.QueueOffset != 0 || string(e.Body) != "half" {
			t.Fatalf("Lookup: %v %+v", err, e)
		}
	}
	if max := s.MaxOffset("Tx", 0); max != 1 || arrivals != 1 {
		t.Fatalf("max offset %d, arrivals %d; want 1 and 1", max, arrivals)
	}
}

func TestReadAtRefusesOffsetsWithoutAMessage(t *testing.T) {
	s := openStore(t, Config{SegmentSize: 1024})
	r := mustPut(t, s, newMsg("T", 0, bodyOf(600, "x"), ""))
	mustPut(t, s, newMsg("T", 0, bodyOf(600, "y"), "")) // rolls: a marker ends segment 0
	for _, off := range []int64{-1, r.CommitLogOffset + 1, int64(r.StoreSize), 1 << 40, 1023} {
		if _, err := s.ReadAt(off); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadAt(%d): %v, want ErrNotFound", off, err)
		}
	}
	if got, err := s.ReadAt(1024); err != nil || decodeOne(t, got).CommitLogOffset != 1024 {
		t.Fatalf("ReadAt(1024), the start of segment 1: %v", err)
	}
}

// javaStringHash is String.hashCode written the plain way, to check javaHash.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

func TestTagsCode(t *testing.T) {
	for _, tags := range []string{"TagA", "TagB", "标签", "a😀b", "a-much-longer-tag-value-to-overflow", "||"} {
		if got, want := TagsCode(tags), int64(javaStringHash(tags)); got != want {
			t.Errorf("TagsCode(%q) = %d, want %d", tags, got, want)
		}
	}
	// Values printed by Java's "...".hashCode().
	for tags, want := range map[string]int64{"TagA": 2598919, "TagZ": 2598944, "标签": 857175, "a-much-longer-tag-value-to-overflow": 1233191413, "": 0} {
		if got := TagsCode(tags); got != want {
			t.Errorf("TagsCode(%q) = %d, Java says %d", tags, got, want)
		}
	}

	const now = 1_700_000_000_000
	delays := []int64{1000, 5000, 10000}
	props := func(kv ...string) []byte {
		var p message.Properties
		for i := 0; i < len(kv); i += 2 {
			p.Set(kv[i], kv[i+1])
		}
		return p.AppendTo(nil)
	}
	tests := []struct {
		name  string
		topic string
		props []byte
		want  int64
	}{
		{"no tags is 0", "T", props("KEYS", "k"), 0},
		{"tags hash", "T", props("TAGS", "TagA"), 2598919},
		{"the last of a repeated TAGS wins", "T", []byte("TAGS\x01x\x02TAGS\x01TagA"), 2598919},
		{"a pair without value is skipped", "T", []byte("TAGS\x01TagA\x02TAGS\x01"), 2598919},
		{"DELAY outside the schedule topic keeps the tags hash", "T", props("TAGS", "TagA", "DELAY", "2"), 2598919},
		{"schedule topic: delivery time of the level", "SCHEDULE_TOPIC_XXXX", props("TAGS", "TagA", "DELAY", "2"), now + 5000},
		{"schedule topic: level above the highest is the highest", "SCHEDULE_TOPIC_XXXX", props("DELAY", "99"), now + 10000},
		{"schedule topic: level 0 keeps the tags hash", "SCHEDULE_TOPIC_XXXX", props("TAGS", "TagA", "DELAY", "0"), 2598919},
		{"schedule topic: level not a number keeps the tags hash", "SCHEDULE_TOPIC_XXXX", props("DELAY", "x"), 0},
		{"schedule topic: explicit plus sign parses", "SCHEDULE_TOPIC_XXXX", props("DELAY", "+1"), now + 1000},
		{"schedule topic without DELAY keeps the tags hash", "SCHEDULE_TOPIC_XXXX", props("TAGS", "TagA"), 2598919},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tagsCode(tt.topic, tt.props, now, delays); got != tt.want {
				t.Fatalf("tagsCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestScheduleTopicTagsCodeIsTheDeliveryTime(t *testing.T) {
	clock := newFakeClock(50_000)
	s := openStore(t, Config{Clock: clock.now})
	m := newMsg(message.SystemTopicSchedule, 2, []byte("later"), "TagA")
	m.SetDelayLevel(3) // 10s
	mustPut(t, s, m)
	var seen []int64
	s.Get(message.SystemTopicSchedule, 2, 0, 1, TagsCodeFilter(func(c int64) bool { seen = append(seen, c); return true }))
	if !slices.Equal(seen, []int64{60_000}) {
		t.Fatalf("tags codes %v, want [60000]: store time + 10s", seen)
	}
}

func TestQueuesAndOffsets(t *testing.T) {
	s := openStore(t, Config{})
	for _, q := range []struct {
		topic string
		id    int32
		n     int
	}{{"B", 1, 2}, {"A", 3, 1}, {"A", 0, 3}} {
		for range q.n {
			mustPut(t, s, newMsg(q.topic, q.id, nil, ""))
		}
	}
	want := []QueueInfo{{"A", 0, 0, 3}, {"A", 3, 0, 1}, {"B", 1, 0, 2}}
	if got := s.Queues(); !slices.Equal(got, want) {
		t.Fatalf("Queues() = %v, want %v", got, want)
	}
	if s.MinOffset("nope", 0) != 0 || s.MaxOffset("nope", 0) != 0 || s.MaxOffset("A", 9) != 0 {
		t.Fatalf("unknown queues must answer 0, as Java's created-on-demand queue does")
	}
	if s.EarliestMessageTime("nope", 0) != -1 || s.StoreTimestamp("A", 0, 3) != -1 {
		t.Fatalf("no message: -1")
	}
}

func TestPutHonoursTheMessagesStoreHost(t *testing.T) {
	other := netip.MustParseAddrPort("127.0.0.1:20911")
	v6 := netip.MustParseAddrPort("[2001:db8::7]:10911")
	for _, tc := range []struct {
		name      string
		cfgHost   netip.AddrPort
		msgHost   netip.AddrPort
		want      netip.AddrPort
		wantSysV6 bool
	}{
		{"a message without a store host gets the store's", testStoreHost, netip.AddrPort{}, testStoreHost, false},
		{"a message's own store host wins", testStoreHost, other, other, false},
		{"a store opened without a host takes the message's", netip.AddrPort{}, other, other, false},
		{"an IPv6 store host sets the sysFlag bit", testStoreHost, v6, v6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Config{StoreHost: tc.cfgHost, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			m := newMsg("Hosts", 0, []byte("body"), "")
			m.StoreHost = tc.msgHost
			r := mustPut(t, s, m)
			if r.StoreHost != tc.want || r.OffsetMsgID() != message.OffsetMsgID(tc.want, r.CommitLogOffset) {
				t.Fatalf("result host %v id %s, want %v", r.StoreHost, r.OffsetMsgID(), tc.want)
			}
			raw, err := s.ReadAt(r.CommitLogOffset)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeOne(t, raw)
			if got.StoreHost != tc.want || (got.SysFlag&message.SysFlagStoreHostV6 != 0) != tc.wantSysV6 ||
				int(r.StoreSize) != len(raw) {
				t.Fatalf("stored host %v sysFlag %#x size %d (%d stored)", got.StoreHost, got.SysFlag, r.StoreSize, len(raw))
			}
			// A batch sizes each message with its own host too.
			batch := []message.Ext{*newMsg("Hosts", 1, []byte("a"), ""), *newMsg("Hosts", 1, []byte("b"), "")}
			batch[1].StoreHost = v6
			rs, err := s.PutBatch(batch, nil)
			if err != nil || len(rs) != 2 || rs[1].StoreHost != v6 {
				t.Fatalf("batch: %v %+v", err, rs)
			}
		})
	}
}

func TestEntryReadsTheConsumeQueue(t *testing.T) {
	clock := newFakeClock(50_000)
	s := openStore(t, Config{Clock: clock.now, DelayLevels: []time.Duration{time.Second, 2 * time.Second}})
	if !slices.Equal(s.DelayLevels(), []time.Duration{time.Second, 2 * time.Second}) || s.MaxMessageSize() != DefaultMaxMessageSize {
		t.Fatalf("levels %v max size %d", s.DelayLevels(), s.MaxMessageSize())
	}
	m := newMsg(message.SystemTopicSchedule, 1, []byte("later"), "TagA")
	m.SetDelayLevel(2)
	r := mustPut(t, s, m)
	for _, tc := range []struct {
		name   string
		topic  string
		offset int64
		want   QueueEntry
		ok     bool
	}{
		{"the entry of a stored message, its tags code the delivery time", message.SystemTopicSchedule, 0,
			QueueEntry{CommitLogOffset: r.CommitLogOffset, Size: r.StoreSize, TagsCode: 52_000, StoreTimestamp: 50_000}, true},
		{"no entry at the max offset", message.SystemTopicSchedule, 1, QueueEntry{}, false},
		{"no entry below zero", message.SystemTopicSchedule, -1, QueueEntry{}, false},
		{"no entry in an unknown queue", "nope", 0, QueueEntry{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := s.Entry(tc.topic, 1, tc.offset)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Entry = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
