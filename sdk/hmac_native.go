//go:build !wasip1

package sdk

import (
	"crypto/hmac"
	"crypto/sha1"
)

func hostHMACSHA1(key, msg []byte) [20]byte {
	mac := hmac.New(sha1.New, key)
	mac.Write(msg)
	var sum [20]byte
	mac.Sum(sum[:0])
	return sum
}
