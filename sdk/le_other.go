//go:build !wasm

package sdk

import "encoding/binary"

// le32 reads a little-endian uint32.
func le32(b []byte, off uint32) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// put32 writes a little-endian uint32.
func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
