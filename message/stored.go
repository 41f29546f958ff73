package message

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
	"slices"
)

// Magic codes of a stored message. V2, written by RocketMQ 5 for topics longer than 127
// bytes, stores the topic length in two bytes instead of one.
const (
	MagicCode   int32 = -626843481 // 0xDAA320A7, Java's MessageDecoder.MESSAGE_MAGIC_CODE
	MagicCodeV2 int32 = -626843477 // 0xDAA320AB, RocketMQ 5's MESSAGE_MAGIC_CODE_V2
)

// Offsets of the fixed fields of a stored message; the hosts that follow are 8 or 20 bytes.
const (
	storedMagicAt      = 4
	storedBodyCRCAt    = 8
	storedQueueIDAt    = 12
	storedFlagAt       = 16
	storedQueueOffAt   = 20
	storedCommitOffAt  = 28
	storedSysFlagAt    = 36
	storedBornTimeAt   = 40
	storedBornHostAt   = 48
	storedAfterHosts   = 8 + 4 + 8 // store timestamp after the born host; reconsume times and prepared offset after the store host
	minStoredSize      = storedBornHostAt + 8 + 8 + 8 + 4 + 8 + 4 + 1 + 2
	maxTopicLenV1      = math.MaxInt8
	maxPropertiesLen   = math.MaxInt16
	batchMessageHeader = 4 + 4 + 4 + 4 + 4 // total size, magic, body CRC, flag, body length
)

// BodyCRC returns the body CRC the broker stores: Java's UtilAll.crc32, CRC-32 IEEE masked
// to 31 bits.
func BodyCRC(body []byte) int32 { return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF) }

// AppendStored appends e in the commit-log layout the broker stores and serves in
// PULL_MESSAGE and CHECK_TRANSACTION_STATE bodies, as Java's broker writes it:
//
//	int32 total size | int32 magic 0xDAA320A7 | int32 body CRC | int32 queue id | int32 flag |
//	int64 queue offset | int64 commit log offset | int32 sysFlag | int64 born timestamp |
//	born host (4 or 16 address bytes, int32 port) | int64 store timestamp | store host |
//	int32 reconsume times | int64 prepared transaction offset | int32 body length, body |
//	int8 topic length, topic | int16 properties length, properties
//
// Body is written as it is, compressed or not as SysFlag says. The total size and the body
// CRC are computed (e.StoreSize and e.BodyCRC are ignored), and the host bits of the sysFlag
// follow the addresses (an IPv4 or zero address takes 4 bytes, any other 16), so that what
// is written is always consistent. A topic over 127 bytes is written with the V2 magic code
// and a two-byte length, as RocketMQ 5 does. On error dst is returned unchanged.
func AppendStored(dst []byte, e *Ext) ([]byte, error) {
	propsLen := e.Properties.EncodedLen()
	if propsLen > maxPropertiesLen {
		return dst, fmt.Errorf("message: %w: properties of %d bytes exceed %d", ErrMessageTooLarge, propsLen, maxPropertiesLen)
	}
	if len(e.Topic) > math.MaxInt16 {
		return dst, fmt.Errorf("message: %w: topic of %d bytes", ErrMessageTooLarge, len(e.Topic))
	}
	magic, topicLenSize := MagicCode, 1
	if len(e.Topic) > maxTopicLenV1 {
		magic, topicLenSize = MagicCodeV2, 2
	}
	sysFlag := e.SysFlag &^ sysFlagHostBits
	size := storedBornHostAt + 8 + storedAfterHosts + 8 + 4 + len(e.Body) + topicLenSize + len(e.Topic) + 2 + propsLen
	if hostIsV6(e.BornHost) {
		sysFlag |= SysFlagBornHostV6
		size += 12
	}
	if hostIsV6(e.StoreHost) {
		sysFlag |= SysFlagStoreHostV6
		size += 12
	}
	if len(e.Body) > math.MaxInt32 || size > math.MaxInt32 {
		return dst, fmt.Errorf("message: %w: stored message of %d bytes", ErrMessageTooLarge, size)
	}
	dst = slices.Grow(dst, size)
	be := binary.BigEndian
	dst = be.AppendUint32(dst, uint32(size))
	dst = be.AppendUint32(dst, uint32(magic))
	dst = be.AppendUint32(dst, uint32(BodyCRC(e.Body)))
	dst = be.AppendUint32(dst, uint32(e.QueueID))
	dst = be.AppendUint32(dst, uint32(e.Flag))
	dst = be.AppendUint64(dst, uint64(e.QueueOffset))
	dst = be.AppendUint64(dst, uint64(e.CommitLogOffset))
	dst = be.AppendUint32(dst, uint32(sysFlag))
	dst = be.AppendUint64(dst, uint64(e.BornTimestamp))
	dst = appendHost(dst, e.BornHost)
	dst = be.AppendUint64(dst, uint64(e.StoreTimestamp))
	dst = appendHost(dst, e.StoreHost)
	dst = be.AppendUint32(dst, uint32(e.ReconsumeTimes))
	dst = be.AppendUint64(dst, uint64(e.PreparedTransactionOffset))
	dst = be.AppendUint32(dst, uint32(len(e.Body)))
	dst = append(dst, e.Body...)
	if topicLenSize == 1 {
		dst = append(dst, byte(len(e.Topic)))
	} else {
		dst = be.AppendUint16(dst, uint16(len(e.Topic)))
	}
	dst = append(dst, e.Topic...)
	dst = be.AppendUint16(dst, uint16(propsLen))
	return e.Properties.AppendTo(dst), nil
}

func appendHost(dst []byte, h netip.AddrPort) []byte {
	var b [20]byte
	n := putHost(b[:], h)
	return append(dst, b[:n]...)
}

// storedSpan locates the parts of one decoded message that a Decoder finishes in its second
// pass, as offsets into the body.
type storedSpan struct {
	off                  int // start of the message
	bodyOff              int // start of the body
	topicStart, topicEnd int
	propsStart, propsEnd int
	arenaOff             int // where the properties start in the call's string arena
}

// parseStored decodes the fixed fields of the stored message at off into e, points e.Body
// into b and records where the topic and properties are. It returns the message's size.
func parseStored(b []byte, off, index int, e *Ext, sp *storedSpan) (int, error) {
	be := binary.BigEndian
	rest := b[off:]
	if len(rest) < 4 {
		return 0, decodeErr(index, off, ErrTruncated, "%d bytes left cannot hold a total size", len(rest))
	}
	size := int(int32(be.Uint32(rest)))
	if size < minStoredSize {
		return 0, decodeErr(index, off, ErrInvalidField, "total size %d is below the %d bytes of an empty message", size, minStoredSize)
	}
	if size > len(rest) {
		return 0, decodeErr(index, off, ErrTruncated, "total size %d exceeds the %d bytes left", size, len(rest))
	}
	m := rest[:size]
	topicLenSize := 1
	switch magic := int32(be.Uint32(m[storedMagicAt:])); magic {
	case MagicCode:
	case MagicCodeV2:
		topicLenSize = 2
	default:
		return 0, decodeErr(index, off+storedMagicAt, ErrBadMagic, "%#08x", uint32(magic))
	}
	e.StoreSize = int32(size)
	e.BodyCRC = int32(be.Uint32(m[storedBodyCRCAt:]))
	e.QueueID = int32(be.Uint32(m[storedQueueIDAt:]))
	e.Flag = int32(be.Uint32(m[storedFlagAt:]))
	e.QueueOffset = int64(be.Uint64(m[storedQueueOffAt:]))
	e.CommitLogOffset = int64(be.Uint64(m[storedCommitOffAt:]))
	e.SysFlag = int32(be.Uint32(m[storedSysFlagAt:]))
	e.BornTimestamp = int64(be.Uint64(m[storedBornTimeAt:]))

	bornLen, storeLen := 4, 4
	if e.SysFlag&SysFlagBornHostV6 != 0 {
		bornLen = 16
	}
	if e.SysFlag&SysFlagStoreHostV6 != 0 {
		storeLen = 16
	}
	p := storedBornHostAt
	// Everything up to the body length, plus the smallest topic and properties lengths.
	if fixed := p + bornLen + 4 + 8 + storeLen + 4 + 4 + 8 + 4; fixed+topicLenSize+2 > size {
		return 0, decodeErr(index, off, ErrTruncated, "total size %d cannot hold the %d-byte header its sysFlag %#x implies", size, fixed+topicLenSize+2, e.SysFlag)
	}
	var err error
	if e.BornHost, err = host(m[p:], bornLen); err != nil {
		return 0, decodeErr(index, off+p, ErrInvalidField, "born host: %v", err)
	}
	p += bornLen + 4
	e.StoreTimestamp = int64(be.Uint64(m[p:]))
	p += 8
	if e.StoreHost, err = host(m[p:], storeLen); err != nil {
		return 0, decodeErr(index, off+p, ErrInvalidField, "store host: %v", err)
	}
	p += storeLen + 4
	e.ReconsumeTimes = int32(be.Uint32(m[p:]))
	e.PreparedTransactionOffset = int64(be.Uint64(m[p+4:]))
	p += 12

	bodyLen := int(int32(be.Uint32(m[p:])))
	p += 4
	if bodyLen < 0 {
		return 0, decodeErr(index, off+p-4, ErrInvalidField, "body length %d", bodyLen)
	}
	if left := size - p - topicLenSize - 2; bodyLen > left {
		return 0, decodeErr(index, off+p-4, ErrTruncated, "body length %d exceeds the %d bytes left in the message", bodyLen, left)
	}
	sp.off, sp.bodyOff = off, off+p
	e.Body = nil
	if bodyLen > 0 {
		e.Body = m[p : p+bodyLen : p+bodyLen]
	}
	p += bodyLen

	var topicLen int
	if topicLenSize == 1 {
		topicLen = int(int8(m[p]))
	} else {
		topicLen = int(int16(be.Uint16(m[p:])))
	}
	p += topicLenSize
	if topicLen < 0 {
		return 0, decodeErr(index, off+p-topicLenSize, ErrInvalidField, "topic length %d", topicLen)
	}
	if left := size - p - 2; topicLen > left {
		return 0, decodeErr(index, off+p-topicLenSize, ErrTruncated, "topic length %d exceeds the %d bytes left in the message", topicLen, left)
	}
	sp.topicStart, sp.topicEnd = off+p, off+p+topicLen
	p += topicLen

	propsLen := int(int16(be.Uint16(m[p:])))
	p += 2
	if propsLen < 0 {
		return 0, decodeErr(index, off+p-2, ErrInvalidField, "properties length %d", propsLen)
	}
	if p+propsLen != size {
		if p+propsLen > size {
			return 0, decodeErr(index, off+p-2, ErrTruncated, "properties length %d exceeds the %d bytes left in the message", propsLen, size-p)
		}
		return 0, decodeErr(index, off, ErrInvalidField, "total size %d but the fields end at %d", size, p+propsLen)
	}
	sp.propsStart, sp.propsEnd = off+p, off+p+propsLen
	return size, nil
}

// host reads an address of n bytes and an int32 port.
func host(b []byte, n int) (netip.AddrPort, error) {
	port := int32(binary.BigEndian.Uint32(b[n:]))
	if port < 0 || port > math.MaxUint16 {
		return netip.AddrPort{}, fmt.Errorf("port %d out of range", port)
	}
	return netip.AddrPortFrom(addrFrom(b[:n]), uint16(port)), nil
}
