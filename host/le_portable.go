//go:build !(amd64 || arm64 || 386 || riscv64 || loong64 || ppc64le || mipsle || mips64le || wasm)

package host

import "encoding/binary"

func put32(b []byte, at int, v uint32) { binary.LittleEndian.PutUint32(b[at:], v) }
func put64(b []byte, at int, v uint64) { binary.LittleEndian.PutUint64(b[at:], v) }

func putStr(b []byte, at int, s string) int { return copy(b[at:at+len(s)], s) }
