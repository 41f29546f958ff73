package remoting

import (
	"strconv"
	"sync"
)

// HeaderEncoder is a typed header that writes its own fields, so that numbers go straight
// into the frame without becoming strings first.
type HeaderEncoder interface {
	EncodeFields(w *FieldWriter)
}

// HeaderDecoder is a typed header read back from extFields.
type HeaderDecoder interface {
	DecodeFields(ext ExtFields) error
}

// declaredOrder is implemented by headers that Java encodes itself (its FastCodesHeader
// interface: the send and pull request and response headers). In a ROCKETMQ header their
// fields come first, in declaration order, ahead of any other extFields; every other field
// is written in java.util.HashMap iteration order.
type declaredOrder interface {
	declaredOrder()
}

// FieldWriter collects the fields of a typed header while a command is encoded.
type FieldWriter struct {
	entries []fieldEntry
	digits  []byte
}

type fieldEntry struct {
	key      string
	val      string
	num      [2]int32 // digits[num[0]:num[1]] when isNum
	isNum    bool
	fromExt  bool
	bucket   uint32
	original int
}

// String writes a string field.
func (w *FieldWriter) String(key, value string) {
	w.entries = append(w.entries, fieldEntry{key: key, val: value})
}

// Int writes an integer field in decimal.
func (w *FieldWriter) Int(key string, v int64) {
	off := int32(len(w.digits))
	w.digits = strconv.AppendInt(w.digits, v, 10)
	w.entries = append(w.entries, fieldEntry{key: key, num: [2]int32{off, int32(len(w.digits))}, isNum: true})
}

// Bool writes "true" or "false", as Java's Boolean.toString.
func (w *FieldWriter) Bool(key string, v bool) {
	if v {
		w.String(key, "true")
	} else {
		w.String(key, "false")
	}
}

func (w *FieldWriter) reset() {
	w.entries = w.entries[:0]
	w.digits = w.digits[:0]
}

// value returns the raw (unescaped) value bytes of e appended to dst-free form.
func (w *FieldWriter) numText(e *fieldEntry) []byte { return w.digits[e.num[0]:e.num[1]] }

// orderJava sorts entries[from:] the way java.util.HashMap iterates them once they have all
// been inserted in their current order into a map holding total entries: by bucket, then
// by insertion within a bucket.
func (w *FieldWriter) orderJava(from, total int) {
	capacity := javaHashMapCapacity(total)
	es := w.entries[from:]
	for i := range es {
		es[i].bucket = javaBucket(es[i].key, capacity)
		es[i].original = i
	}
	// Insertion sort: stable, allocation free, and n is a dozen.
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].bucket < es[j-1].bucket; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

var fieldWriters = sync.Pool{New: func() any { return new(FieldWriter) }}

// collect gathers c's header and extFields into a pooled writer, in the order they are to
// be written. Only commands built with a typed header are reordered as Java would write
// them; a command without one keeps the order of Ext, so decoded commands round-trip.
func collect(c *Command, ser SerializeType) *FieldWriter {
	w := fieldWriters.Get().(*FieldWriter)
	w.reset()
	if c.Header == nil {
		for _, f := range c.Ext {
			w.entries = append(w.entries, fieldEntry{key: f.Key, val: f.Value, fromExt: true})
		}
		return w
	}
	c.Header.EncodeFields(w)
	nHeader := len(w.entries)
	for _, f := range c.Ext {
		w.entries = append(w.entries, fieldEntry{key: f.Key, val: f.Value, fromExt: true})
	}
	_, fast := c.Header.(declaredOrder)
	if ser == RocketMQ && fast {
		w.orderJava(nHeader, len(w.entries)-nHeader)
	} else {
		w.orderJava(0, len(w.entries))
	}
	return w
}

func release(w *FieldWriter) {
	if cap(w.entries) > 256 || cap(w.digits) > 4096 {
		return
	}
	fieldWriters.Put(w)
}

// AllFields appends to dst every extFields entry c carries on the wire: its typed header's
// fields in the order the header writes them, then Ext. What an RPC hook that signs
// requests needs to see; numbers are formatted as they would be sent.
func AllFields(dst ExtFields, c *Command) ExtFields {
	if c.Header != nil {
		w := fieldWriters.Get().(*FieldWriter)
		w.reset()
		c.Header.EncodeFields(w)
		for i := range w.entries {
			e := &w.entries[i]
			v := e.val
			if e.isNum {
				v = string(w.numText(e))
			}
			dst = append(dst, Field{Key: e.key, Value: v})
		}
		release(w)
	}
	return append(dst, c.Ext...)
}
