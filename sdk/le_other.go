//go:build !wasm

package sdk

import "encoding/binary"

// le32 reads a little-endian uint32.
func le32(b []byte, off uint32) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// put32 writes a little-endian uint32.
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }

// load64 reads 8 bytes of b at off (for comparisons).
func load64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// load64s reads 8 bytes of s at off; off+8 <= len(s).
func load64s(s string, off int) uint64 {
	return binary.LittleEndian.Uint64([]byte(s[off : off+8]))
}

// store64 writes 8 bytes at b[off:] (a load64's or load64s's).
func store64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// load32s reads 4 bytes of s at off, little-endian; off+4 <= len(s).
func load32s(s string, off int) uint32 {
	return binary.LittleEndian.Uint32([]byte(s[off : off+4]))
}
