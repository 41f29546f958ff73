package allocate

import (
	"crypto/md5"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// md5First is MD5's first word at every length it takes, on random bytes and on node keys.
func TestMD5FirstIsMD5(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 56 {
		for range 200 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			d := md5.Sum(b)
			if got, want := md5First(b), binary.BigEndian.Uint32(d[:]); got != want {
				t.Fatalf("md5First(%x) = %08x, want %08x", b, got, want)
			}
		}
	}
	if got, want := md5First([]byte("c0-0")), uint32(0x8a18b93e); got != want {
		t.Fatalf("md5First(c0-0) = %08x, want %08x", got, want)
	}
}
