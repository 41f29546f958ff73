//go:build wasip1

package sdk

import "unsafe"

//go:wasmimport mqgate log
func mqgateLog(level int32, ptr unsafe.Pointer, n int32)

func hostLog(level Level, msg string) {
	mqgateLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
