package store

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
	"unicode/utf8"

	"github.com/mqgate/mqgate/message"
)

// Java's end-of-segment marker: int32 bytes left in the segment, int32 this magic code.
const (
	blankMagic int32  = -875286124 // CommitLog.BLANK_MAGIC_CODE
	blankBits  uint32 = 0xCBD43194 // the same, as written
	blankLen          = 8          // END_FILE_MIN_BLANK_LENGTH: always kept free for the marker
)

// Offsets of the fixed fields of a stored message (see message.AppendStored).
const (
	offMagic       = 4
	offBodyCRC     = 8
	offQueueID     = 12
	offQueueOffset = 20
	offCommitLog   = 28
	offSysFlag     = 36
	offBornHost    = 48
	// the smallest stored message: IPv4 hosts, empty body, one-byte topic length, no
	// topic, no properties.
	minRecordSize = offBornHost + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2
)

// record is what the store needs of a stored message: its consume queue entry and where
// its properties are. Slices alias the parsed bytes.
type record struct {
	size            int
	queueID         int32
	queueOffset     int64
	commitLogOffset int64
	sysFlag         int32
	storeTimestamp  int64
	topic           []byte
	props           []byte
	blank           bool // an end-of-segment marker; only size is set
}

// storedSize returns the size message.AppendStored gives e stored by storeHost, or an
// error when it cannot be encoded. It must agree with AppendStored; Put checks that it
// does.
func storedSize(e *message.Ext, storeHost netip.AddrPort) (int, error) {
	propsLen := e.Properties.EncodedLen()
	if propsLen > math.MaxInt16 {
		return 0, fmt.Errorf("store: %w: properties of %d bytes exceed %d", ErrMessageTooLarge, propsLen, math.MaxInt16)
	}
	if len(e.Topic) > math.MaxInt16 {
		return 0, fmt.Errorf("store: %w: topic of %d bytes", ErrMessageTooLarge, len(e.Topic))
	}
	topicLenSize := 1
	if len(e.Topic) > message.MaxTopicLength {
		topicLenSize = 2 // AppendStored writes RocketMQ 5's V2 magic code
	}
	// born host, store timestamp, store host, reconsume times, prepared offset, body length
	size := offBornHost + 8 + 8 + 8 + 4 + 8 + 4 + len(e.Body) + topicLenSize + len(e.Topic) + 2 + propsLen
	if hostIsV6(e.BornHost) {
		size += 12
	}
	if hostIsV6(storeHost) {
		size += 12
	}
	return size, nil
}

// hostIsV6 reports whether AppendStored writes h with 16 address bytes.
func hostIsV6(h netip.AddrPort) bool { a := h.Addr(); return a.IsValid() && !a.Is4() }

// parseRecord validates the record at the start of b: an end-of-segment marker, or a
// stored message whose sizes add up, whose hosts have valid ports, whose topic is not
// empty and whose queue id and queue offset are not negative; with checkCRC, its body CRC
// must match too. Errors are *CorruptError with Offset relative to b.
func parseRecord(b []byte, checkCRC bool) (record, error) {
	var r record
	be := binary.BigEndian
	if len(b) < blankLen {
		return r, corrupt(0, "%d bytes cannot hold a record header", len(b))
	}
	size := int(int32(be.Uint32(b)))
	topicLenSize := 1
	switch magic := int32(be.Uint32(b[offMagic:])); magic {
	case blankMagic:
		if size < blankLen {
			return r, corrupt(0, "end marker declares %d bytes left", size)
		}
		r.size, r.blank = size, true
		return r, nil
	case message.MagicCode:
	case message.MagicCodeV2:
		topicLenSize = 2
	default:
		return r, corrupt(0, "bad magic code %#08x", uint32(magic))
	}
	if size < minRecordSize {
		return r, corrupt(0, "total size %d is below the %d bytes of an empty message", size, minRecordSize)
	}
	if size > len(b) {
		return r, corrupt(0, "total size %d exceeds the %d bytes left", size, len(b))
	}
	m := b[:size]
	r.size = size
	r.queueID = int32(be.Uint32(m[offQueueID:]))
	r.queueOffset = int64(be.Uint64(m[offQueueOffset:]))
	r.commitLogOffset = int64(be.Uint64(m[offCommitLog:]))
	r.sysFlag = int32(be.Uint32(m[offSysFlag:]))
	if r.queueID < 0 {
		return r, corrupt(offQueueID, "queue id %d", r.queueID)
	}
	if r.queueOffset < 0 {
		return r, corrupt(offQueueOffset, "queue offset %d", r.queueOffset)
	}
	bornLen, storeLen := 8, 8
	if r.sysFlag&message.SysFlagBornHostV6 != 0 {
		bornLen = 20
	}
	if r.sysFlag&message.SysFlagStoreHostV6 != 0 {
		storeLen = 20
	}
	p := offBornHost
	if fixed := p + bornLen + 8 + storeLen + 4 + 8 + 4 + topicLenSize + 2; fixed > size {
		return r, corrupt(0, "total size %d cannot hold the %d-byte header its sysFlag %#x implies", size, fixed, r.sysFlag)
	}
	if port := int32(be.Uint32(m[p+bornLen-4:])); port < 0 || port > math.MaxUint16 {
		return r, corrupt(p+bornLen-4, "born host port %d", port)
	}
	p += bornLen
	r.storeTimestamp = int64(be.Uint64(m[p:]))
	p += 8
	if port := int32(be.Uint32(m[p+storeLen-4:])); port < 0 || port > math.MaxUint16 {
		return r, corrupt(p+storeLen-4, "store host port %d", port)
	}
	p += storeLen + 4 + 8 // reconsume times, prepared transaction offset
	bodyLen := int(int32(be.Uint32(m[p:])))
	p += 4
	if bodyLen < 0 || bodyLen > size-p-topicLenSize-2 {
		return r, corrupt(p-4, "body length %d does not fit the %d bytes left", bodyLen, size-p-topicLenSize-2)
	}
	body := m[p : p+bodyLen]
	p += bodyLen
	topicLen := int(int8(m[p]))
	if topicLenSize == 2 {
		topicLen = int(int16(be.Uint16(m[p:])))
	}
	p += topicLenSize
	if topicLen <= 0 || topicLen > size-p-2 {
		return r, corrupt(p-topicLenSize, "topic length %d does not fit the %d bytes left", topicLen, size-p-2)
	}
	r.topic = m[p : p+topicLen]
	p += topicLen
	propsLen := int(int16(be.Uint16(m[p:])))
	p += 2
	if propsLen < 0 || p+propsLen != size {
		return r, corrupt(p-2, "properties length %d but %d bytes are left", propsLen, size-p)
	}
	r.props = m[p:]
	if checkCRC {
		stored := int32(be.Uint32(m[offBodyCRC:]))
		if got := int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF); got != stored {
			return r, corrupt(offBodyCRC, "body CRC %d, stored %d", got, stored)
		}
	}
	return r, nil
}

func corrupt(at int, format string, args ...any) *CorruptError {
	return &CorruptError{Offset: int64(at), Reason: fmt.Sprintf(format, args...)}
}

// dispatched reports whether a message of sysFlag enters its consume queue: Java keeps
// prepared and rolled back transactional messages out (CommitLogDispatcherBuildConsumeQueue)
// and stores them with queue offset 0.
func dispatched(sysFlag int32) bool {
	t := message.TransactionType(sysFlag)
	return t != message.SysFlagTransactionPrepared && t != message.SysFlagTransactionRollback
}

// tagsCode computes a consume queue entry's tags code from the stored topic and
// properties, as Java's CommitLog.checkMessageAndReturnSize does when it dispatches a
// message: String.hashCode of TAGS (0 without), but for a message in SCHEDULE_TOPIC_XXXX
// with a DELAY level > 0, its delivery time: storeTimestamp + the level's delay, the
// level capped at the highest. delays are the levels' delays in milliseconds.
//
// Java throws on a DELAY that is not an int and stops dispatching; here such a message
// keeps its tags hash.
func tagsCode(topic string, props []byte, storeTimestamp int64, delays []int64) int64 {
	var code int64
	if tags, ok := findProperty(props, message.PropertyTags); ok {
		code = int64(javaHash(tags))
	}
	if topic != message.SystemTopicSchedule || len(delays) == 0 {
		return code
	}
	v, ok := findProperty(props, message.PropertyDelayTimeLevel)
	if !ok {
		return code
	}
	level, ok := parseJavaInt(v)
	if !ok || level <= 0 {
		return code
	}
	level = min(level, int32(len(delays)))
	return storeTimestamp + delays[level-1]
}

// TagsCode returns the tags code of tags as Java computes it: String.hashCode, widened to
// a long; 0 for no tags. A subscription's codeSet holds these codes.
func TagsCode(tags string) int64 {
	if tags == "" {
		return 0
	}
	return int64(javaHash([]byte(tags)))
}

// javaHash is Java's String.hashCode of the UTF-8 bytes b: over UTF-16 code units, with
// U+FFFD for each byte that is not valid UTF-8 (Java replaces a malformed sequence as a
// whole; tags are validated text in practice).
func javaHash(b []byte) int32 {
	var h int32
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			h = 31*h + int32(c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		i += n
		if r > 0xFFFF { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// findProperty returns the value of name in an encoded properties string, as Java's
// string2messageProperties reads it: pairs separated by 0x02, name and value by the first
// 0x01, pairs with an empty name or value skipped, the last of a repeated name winning.
func findProperty(props []byte, name string) ([]byte, bool) {
	var val []byte
	found := false
	for len(props) > 0 {
		pair := props
		rest := []byte(nil)
		for i, c := range props {
			if c == message.PropertySeparator {
				pair, rest = props[:i], props[i+1:]
				break
			}
		}
		for i, c := range pair {
			if c == message.NameValueSeparator {
				if i > 0 && i < len(pair)-1 && string(pair[:i]) == name {
					val, found = pair[i+1:], true
				}
				break
			}
		}
		props = rest
	}
	return val, found
}

// parseJavaInt parses b as Java's Integer.parseInt does for ASCII digits: an optional sign,
// at least one digit, no overflow.
func parseJavaInt(b []byte) (int32, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > math.MaxInt32+1 {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, false
	}
	return int32(n), true
}
