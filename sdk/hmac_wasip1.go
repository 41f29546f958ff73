//go:build wasip1

package sdk

import "unsafe"

//go:wasmimport mqgate hmac_sha1
func mqgateHMACSHA1(keyPtr unsafe.Pointer, keyLen int32, msgPtr unsafe.Pointer, msgLen int32, out unsafe.Pointer) int32

// hmacOut receives the host's answer: a local whose address the import takes would be
// moved to the heap, an allocation per call.
var hmacOut [20]byte

func hostHMACSHA1(key, msg []byte) [20]byte {
	if mqgateHMACSHA1(unsafe.Pointer(unsafe.SliceData(key)), int32(len(key)),
		unsafe.Pointer(unsafe.SliceData(msg)), int32(len(msg)), unsafe.Pointer(&hmacOut)) != 0 {
		panic("sdk: mqgate.hmac_sha1 refused: only RPC hooks may sign through the host")
	}
	return hmacOut
}
