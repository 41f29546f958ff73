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
