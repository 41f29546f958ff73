//go:build wasm

package sdk

import "unsafe"

// le32 reads a little-endian uint32: one load, where WebAssembly (little-endian, unaligned
// loads allowed) would otherwise pay four byte loads and shifts.
func le32(b []byte, off uint32) uint32 {
	_ = b[off+3]
	return *(*uint32)(unsafe.Pointer(&b[off]))
}

// put32 writes a little-endian uint32.
func put32(b []byte, off int, v uint32) {
	_ = b[off+3]
	*(*uint32)(unsafe.Pointer(&b[off])) = v
}

// load64 reads 8 bytes of b at off, in machine order (for comparisons).
func load64(b []byte, off int) uint64 {
	_ = b[off+7]
	return *(*uint64)(unsafe.Pointer(&b[off]))
}

// load64s reads 8 bytes of s at off, in machine order; off+8 <= len(s).
func load64s(s string, off int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), off))
}

// store64 writes 8 bytes at b[off:] in machine order (a load64's or load64s's).
func store64(b []byte, off int, v uint64) {
	_ = b[off+7]
	*(*uint64)(unsafe.Pointer(&b[off])) = v
}

// load32s reads 4 bytes of s at off, little-endian; off+4 <= len(s).
func load32s(s string, off int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), off))
}
