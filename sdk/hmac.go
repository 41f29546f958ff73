package sdk

// HMACSHA1 returns the HMAC-SHA1 of msg under key, computed by the host (ABI.md §7,
// mqgate.hmac_sha1): SHA-1 in Go compiled to WebAssembly costs microseconds a request.
// Only RPC hooks may use it: the gateway refuses a module of another kind that does.
// Natively, in a plugin's tests, it is crypto/hmac's.
func HMACSHA1(key, msg []byte) [20]byte { return hostHMACSHA1(key, msg) }
