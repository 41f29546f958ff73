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

// putStr copies s to b[at:], which must hold it (the layout sizes its buffer first), and
// returns its length. Strings of 4 to 16 bytes take two overlapping loads and stores, not
// a call of memmove.
func putStr(b []byte, at int, s string) int {
	n := len(s)
	if n > 16 || n < 4 {
		return copy(b[at:at+n], s)
	}
	_ = b[at+n-1]
	src, dst := unsafe.Pointer(unsafe.StringData(s)), unsafe.Pointer(&b[at])
	if n >= 8 {
		*(*uint64)(dst) = *(*uint64)(src)
		*(*uint64)(unsafe.Add(dst, n-8)) = *(*uint64)(unsafe.Add(src, n-8))
		return n
	}
	*(*uint32)(dst) = *(*uint32)(src)
	*(*uint32)(unsafe.Add(dst, n-4)) = *(*uint32)(unsafe.Add(src, n-4))
	return n
}
