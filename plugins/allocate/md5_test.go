package allocate

import (
	"crypto/md5"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"strings"
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

// The keys written in place are "client-i", past each power of ten.
func TestNodeHashesInBlock(t *testing.T) {
	for _, client := range []string{"", "c", "10.0.0.124@4665", strings.Repeat("x", 50)} {
		hs := make([]uint32, 1001)
		if len(client) == 50 {
			hs = hs[:1000] // "x...x-999" is 54 bytes, the block's longest key
		}
		nodeHashesInBlock(hs, client)
		for i, h := range hs {
			if want := md5Hash([]byte(client + "-" + strconv.Itoa(i))); h != want {
				t.Fatalf("%q node %d: %08x, want %08x", client, i, h, want)
			}
		}
	}
}
