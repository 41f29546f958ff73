package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
)

// putStr writes exactly the string's bytes, whatever its length: the short ones go by
// overlapping word stores, which must neither fall short nor spill past the string.
func TestPutStrCopiesEveryLength(t *testing.T) {
	for n := range 41 {
		s := ""
		for i := range n {
			s += string(rune('a' + i%26))
		}
		buf := bytes.Repeat([]byte{0xEE}, n+16)
		if got := putStr(buf, 8, s); got != n {
			t.Fatalf("len %d: putStr returned %d", n, got)
		}
		want := append(append(bytes.Repeat([]byte{0xEE}, 8), s...), bytes.Repeat([]byte{0xEE}, 8)...)
		if !bytes.Equal(buf, want) {
			t.Fatalf("len %d: wrote %q, want %q", n, buf, want)
		}
		// A buffer that ends with the string: the copy may not need a byte past it.
		end := make([]byte, n)
		putStr(end, 0, s)
		if string(end) != s {
			t.Fatalf("len %d at the buffer's end: %q", n, end)
		}
	}
}

// What encodeSend writes reads back as the events: every property, and the strings a
// batch repeats written once, whether the events share one string or hold equal copies.
func TestEncodeSendReadsBack(t *testing.T) {
	var evs []instance.SendEvent
	for i := range 4 {
		m := &message.Message{Topic: strings.Clone("TopicTest"), Body: []byte("b")}
		for j := range 6 { // names and values of 1 to 40 bytes, across the copy's cases
			m.Properties.Set(fmt.Sprintf("p%d", j)+strings.Repeat("n", i*j*2), strings.Repeat("v", 1+i*7+j))
		}
		topic := "TopicTest"
		if i == 3 {
			topic = "OtherTopic" // a change mid-batch is written anew
		}
		m.Topic = topic
		evs = append(evs, instance.SendEvent{ProducerGroup: strings.Clone("pg"), Message: m,
			Queue: instance.MessageQueue{Topic: topic, BrokerName: "broker-a", QueueID: int32(i)}, BrokerAddr: "127.0.0.1:10911"})
	}
	size := sendHeader
	for i := range evs {
		size += sendEventSize(&evs[i], false, true)
	}
	buf := make([]byte, size)
	var l layout
	n := encodeSend(&l, buf, evs, false, true)
	if n > size {
		t.Fatalf("wrote %d bytes past the %d sized", n, size)
	}
	str := func(at int) (string, uint32) {
		off, ln := binary.LittleEndian.Uint32(buf[at:]), binary.LittleEndian.Uint32(buf[at+4:])
		return string(buf[off : off+ln]), off
	}
	groupOffs, topicOffs := map[uint32]bool{}, map[uint32]bool{}
	for i, ev := range evs {
		rec := sendHeader + i*sendRecordSize
		g, goff := str(rec)
		topic, toff := str(rec + 8)
		if g != "pg" || topic != ev.Message.Topic {
			t.Fatalf("record %d: group %q topic %q", i, g, topic)
		}
		groupOffs[goff], topicOffs[toff] = true, true
		table, count := binary.LittleEndian.Uint32(buf[rec+40:]), int(binary.LittleEndian.Uint32(buf[rec+44:]))
		if count != ev.Message.Properties.Len() {
			t.Fatalf("record %d: %d properties, want %d", i, count, ev.Message.Properties.Len())
		}
		for j := range count {
			name, _ := str(int(table) + 16*j)
			value, _ := str(int(table) + 16*j + 8)
			if kv := ev.Message.Properties.At(j); name != kv.Name || value != kv.Value {
				t.Fatalf("record %d property %d: %q=%q, want %q=%q", i, j, name, value, kv.Name, kv.Value)
			}
		}
	}
	if len(groupOffs) != 1 || len(topicOffs) != 2 {
		t.Fatalf("group written %d times (want once: equal copies share it), topic %d (want 2)", len(groupOffs), len(topicOffs))
	}
}
