//go:build !wasip1

package sdk

import (
	"encoding/hex"
	"testing"
)

// HMACSHA1 natively is crypto/hmac's (RFC 2202, test case 2). In a module it is the
// host's, which host/'s ACL tests check against the native signer and recorded frames.
func TestHMACSHA1(t *testing.T) {
	sum := HMACSHA1([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if got := hex.EncodeToString(sum[:]); got != "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" {
		t.Fatalf("HMAC-SHA1 = %s", got)
	}
}
