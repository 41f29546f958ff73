//go:build amd64 || arm64 || 386 || riscv64 || loong64 || ppc64le || mipsle || mips64le || wasm

package host

import "unsafe"

// put32 and put64 store little-endian integers with one bounds check and one store: the
// layout writes a dozen per message.

func put32(b []byte, at int, v uint32) {
	_ = b[at+3]
	*(*uint32)(unsafe.Pointer(&b[at])) = v
}

func put64(b []byte, at int, v uint64) {
	_ = b[at+7]
	*(*uint64)(unsafe.Pointer(&b[at])) = v
}
