package message

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// AppendBatch appends the SEND_BATCH_MESSAGE body of msgs to dst, as Java's
// MessageDecoder.encodeMessages writes it; per message:
//
//	int32 total size | int32 magic (0) | int32 body CRC (0) | int32 flag |
//	int32 body length, body | int16 properties length, properties
//
// Topics are not written: the batch's topic travels in the request header, and every
// message of a batch must have it (see ValidateBatch). On error dst is returned unchanged.
func AppendBatch(dst []byte, msgs []Message) ([]byte, error) {
	total := 0
	for i := range msgs {
		m := &msgs[i]
		propsLen := m.Properties.EncodedLen()
		if propsLen > maxPropertiesLen {
			return dst, fmt.Errorf("message: %w: batch message %d: properties of %d bytes exceed %d",
				ErrMessageTooLarge, i, propsLen, maxPropertiesLen)
		}
		size := batchMessageHeader + len(m.Body) + 2 + propsLen
		if size > math.MaxInt32 || total > math.MaxInt32-size {
			return dst, fmt.Errorf("message: %w: batch message %d: %d bytes", ErrMessageTooLarge, i, size)
		}
		total += size
	}
	dst = slices.Grow(dst, total)
	be := binary.BigEndian
	for i := range msgs {
		m := &msgs[i]
		propsLen := m.Properties.EncodedLen()
		dst = be.AppendUint32(dst, uint32(batchMessageHeader+len(m.Body)+2+propsLen))
		dst = be.AppendUint32(dst, 0) // magic: Java writes 0 in batches
		dst = be.AppendUint32(dst, 0) // body CRC: the broker computes it
		dst = be.AppendUint32(dst, uint32(m.Flag))
		dst = be.AppendUint32(dst, uint32(len(m.Body)))
		dst = append(dst, m.Body...)
		dst = be.AppendUint16(dst, uint16(propsLen))
		dst = m.Properties.AppendTo(dst)
	}
	return dst, nil
}

// parseBatchMessage decodes the batch message at off into m (Body aliasing b) and records
// where its properties are. It returns the message's size. Like Java's broker it ignores
// the magic code and body CRC; unlike it, it also checks that the total size matches.
func parseBatchMessage(b []byte, off, index int, m *Message, sp *storedSpan) (int, error) {
	be := binary.BigEndian
	rest := b[off:]
	if len(rest) < batchMessageHeader+2 {
		return 0, decodeErr(index, off, ErrTruncated, "%d bytes left cannot hold a batch message header", len(rest))
	}
	size := int(int32(be.Uint32(rest)))
	if size < batchMessageHeader+2 {
		return 0, decodeErr(index, off, ErrInvalidField, "total size %d is below the %d bytes of an empty message", size, batchMessageHeader+2)
	}
	if size > len(rest) {
		return 0, decodeErr(index, off, ErrTruncated, "total size %d exceeds the %d bytes left", size, len(rest))
	}
	msg := rest[:size]
	m.Flag = int32(be.Uint32(msg[12:]))
	p := 16
	bodyLen := int(int32(be.Uint32(msg[p:])))
	p += 4
	if bodyLen < 0 {
		return 0, decodeErr(index, off+p-4, ErrInvalidField, "body length %d", bodyLen)
	}
	if left := size - p - 2; bodyLen > left {
		return 0, decodeErr(index, off+p-4, ErrTruncated, "body length %d exceeds the %d bytes left in the message", bodyLen, left)
	}
	sp.off, sp.bodyOff = off, off+p
	m.Body = nil
	if bodyLen > 0 {
		m.Body = msg[p : p+bodyLen : p+bodyLen]
	}
	p += bodyLen
	propsLen := int(int16(be.Uint16(msg[p:])))
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
	sp.topicStart, sp.topicEnd = 0, 0
	sp.propsStart, sp.propsEnd = off+p, off+p+propsLen
	return size, nil
}
