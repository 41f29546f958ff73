package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrInvalidID is returned for a message id that cannot be parsed.
var ErrInvalidID = errors.New("invalid message id")

// Lengths of the offset message id in hex digits.
const (
	OffsetMsgIDLenV4 = 2 * (4 + 4 + 8)  // 32
	OffsetMsgIDLenV6 = 2 * (16 + 4 + 8) // 56
)

const hexDigits = "0123456789ABCDEF"

// OffsetMsgID returns the offset message id of the message stored at commitLogOffset by the
// broker at storeHost: upper-case hex of the store host's address (4 bytes, or 16 for IPv6),
// its port (4 bytes) and the offset (8 bytes), as Java's MessageDecoder.createMessageId.
// A zero storeHost is written as 0.0.0.0:0.
func OffsetMsgID(storeHost netip.AddrPort, commitLogOffset int64) string {
	var buf [OffsetMsgIDLenV6]byte
	return string(AppendOffsetMsgID(buf[:0], storeHost, commitLogOffset))
}

// AppendOffsetMsgID appends the offset message id (see OffsetMsgID) to dst.
func AppendOffsetMsgID(dst []byte, storeHost netip.AddrPort, commitLogOffset int64) []byte {
	var raw [16 + 4 + 8]byte
	n := putHost(raw[:], storeHost)
	binary.BigEndian.PutUint64(raw[n:], uint64(commitLogOffset))
	return appendHex(dst, raw[:n+8])
}

// ParseOffsetMsgID returns the store host and commit log offset of an offset message id of
// 32 (IPv4) or 56 (IPv6) hex digits, either case.
func ParseOffsetMsgID(id string) (storeHost netip.AddrPort, commitLogOffset int64, err error) {
	var raw [16 + 4 + 8]byte
	ipLen := 4
	switch len(id) {
	case OffsetMsgIDLenV4:
	case OffsetMsgIDLenV6:
		ipLen = 16
	default:
		return netip.AddrPort{}, 0, fmt.Errorf("message: %w: offset id %q has %d hex digits, want %d or %d",
			ErrInvalidID, id, len(id), OffsetMsgIDLenV4, OffsetMsgIDLenV6)
	}
	if err := decodeHex(raw[:len(id)/2], id); err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("message: %w: offset id %q: %v", ErrInvalidID, id, err)
	}
	port := binary.BigEndian.Uint32(raw[ipLen:])
	if port > 0xFFFF {
		return netip.AddrPort{}, 0, fmt.Errorf("message: %w: offset id %q: port %d out of range", ErrInvalidID, id, port)
	}
	addr := addrFrom(raw[:ipLen])
	return netip.AddrPortFrom(addr, uint16(port)), int64(binary.BigEndian.Uint64(raw[ipLen+4:])), nil
}

// putHost writes the address (4 bytes for IPv4 or an invalid address, else 16) and the port
// as an int32, as Java writes a host of a stored message; it returns the bytes written.
func putHost(dst []byte, h netip.AddrPort) int {
	n := 4
	switch a := h.Addr(); {
	case !a.IsValid():
		clear(dst[:4])
	case a.Is4():
		b := a.As4()
		copy(dst, b[:])
	default:
		b := a.As16()
		copy(dst, b[:])
		n = 16
	}
	binary.BigEndian.PutUint32(dst[n:], uint32(h.Port()))
	return n + 4
}

// hostIsV6 reports whether h is written with 16 address bytes.
func hostIsV6(h netip.AddrPort) bool { a := h.Addr(); return a.IsValid() && !a.Is4() }

func addrFrom(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

func appendHex(dst, src []byte) []byte {
	for _, c := range src {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0x0F])
	}
	return dst
}

func decodeHex(dst []byte, s string) error {
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return fmt.Errorf("not hex at %d", 2*i)
		}
		dst[i] = hi<<4 | lo
	}
	return nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
