package allocate

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"strconv"
)

// md5First is the first four bytes of the MD5 of msg (RFC 1321), big-endian, for
// len(msg) <= 55: one block, without crypto/md5's digest and its copies, which cost a
// WebAssembly guest (where crypto/md5 has no assembly) a third more.
func md5First(msg []byte) uint32 {
	var blk [64]byte
	copy(blk[:], msg)
	blk[len(msg)] = 0x80
	binary.LittleEndian.PutUint64(blk[56:], uint64(len(msg))<<3)
	return md5Block(&blk)
}

// md5Block is md5First of a padded block, its steps unrolled. The last 3 of the 64 are
// left out: they do not change the first word.
func md5Block(blk *[64]byte) uint32 {
	x0 := binary.LittleEndian.Uint32(blk[0:])
	x1 := binary.LittleEndian.Uint32(blk[4:])
	x2 := binary.LittleEndian.Uint32(blk[8:])
	x3 := binary.LittleEndian.Uint32(blk[12:])
	x4 := binary.LittleEndian.Uint32(blk[16:])
	x5 := binary.LittleEndian.Uint32(blk[20:])
	x6 := binary.LittleEndian.Uint32(blk[24:])
	x7 := binary.LittleEndian.Uint32(blk[28:])
	x8 := binary.LittleEndian.Uint32(blk[32:])
	x9 := binary.LittleEndian.Uint32(blk[36:])
	x10 := binary.LittleEndian.Uint32(blk[40:])
	x11 := binary.LittleEndian.Uint32(blk[44:])
	x12 := binary.LittleEndian.Uint32(blk[48:])
	x13 := binary.LittleEndian.Uint32(blk[52:])
	x14 := binary.LittleEndian.Uint32(blk[56:])
	x15 := binary.LittleEndian.Uint32(blk[60:])
	a, b, c, d := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	a = b + bits.RotateLeft32(a+(((c^d)&b)^d)+x0+0xd76aa478, 7)
	d = a + bits.RotateLeft32(d+(((b^c)&a)^c)+x1+0xe8c7b756, 12)
	c = d + bits.RotateLeft32(c+(((a^b)&d)^b)+x2+0x242070db, 17)
	b = c + bits.RotateLeft32(b+(((d^a)&c)^a)+x3+0xc1bdceee, 22)
	a = b + bits.RotateLeft32(a+(((c^d)&b)^d)+x4+0xf57c0faf, 7)
	d = a + bits.RotateLeft32(d+(((b^c)&a)^c)+x5+0x4787c62a, 12)
	c = d + bits.RotateLeft32(c+(((a^b)&d)^b)+x6+0xa8304613, 17)
	b = c + bits.RotateLeft32(b+(((d^a)&c)^a)+x7+0xfd469501, 22)
	a = b + bits.RotateLeft32(a+(((c^d)&b)^d)+x8+0x698098d8, 7)
	d = a + bits.RotateLeft32(d+(((b^c)&a)^c)+x9+0x8b44f7af, 12)
	c = d + bits.RotateLeft32(c+(((a^b)&d)^b)+x10+0xffff5bb1, 17)
	b = c + bits.RotateLeft32(b+(((d^a)&c)^a)+x11+0x895cd7be, 22)
	a = b + bits.RotateLeft32(a+(((c^d)&b)^d)+x12+0x6b901122, 7)
	d = a + bits.RotateLeft32(d+(((b^c)&a)^c)+x13+0xfd987193, 12)
	c = d + bits.RotateLeft32(c+(((a^b)&d)^b)+x14+0xa679438e, 17)
	b = c + bits.RotateLeft32(b+(((d^a)&c)^a)+x15+0x49b40821, 22)
	a = b + bits.RotateLeft32(a+(((b^c)&d)^c)+x1+0xf61e2562, 5)
	d = a + bits.RotateLeft32(d+(((a^b)&c)^b)+x6+0xc040b340, 9)
	c = d + bits.RotateLeft32(c+(((d^a)&b)^a)+x11+0x265e5a51, 14)
	b = c + bits.RotateLeft32(b+(((c^d)&a)^d)+x0+0xe9b6c7aa, 20)
	a = b + bits.RotateLeft32(a+(((b^c)&d)^c)+x5+0xd62f105d, 5)
	d = a + bits.RotateLeft32(d+(((a^b)&c)^b)+x10+0x02441453, 9)
	c = d + bits.RotateLeft32(c+(((d^a)&b)^a)+x15+0xd8a1e681, 14)
	b = c + bits.RotateLeft32(b+(((c^d)&a)^d)+x4+0xe7d3fbc8, 20)
	a = b + bits.RotateLeft32(a+(((b^c)&d)^c)+x9+0x21e1cde6, 5)
	d = a + bits.RotateLeft32(d+(((a^b)&c)^b)+x14+0xc33707d6, 9)
	c = d + bits.RotateLeft32(c+(((d^a)&b)^a)+x3+0xf4d50d87, 14)
	b = c + bits.RotateLeft32(b+(((c^d)&a)^d)+x8+0x455a14ed, 20)
	a = b + bits.RotateLeft32(a+(((b^c)&d)^c)+x13+0xa9e3e905, 5)
	d = a + bits.RotateLeft32(d+(((a^b)&c)^b)+x2+0xfcefa3f8, 9)
	c = d + bits.RotateLeft32(c+(((d^a)&b)^a)+x7+0x676f02d9, 14)
	b = c + bits.RotateLeft32(b+(((c^d)&a)^d)+x12+0x8d2a4c8a, 20)
	a = b + bits.RotateLeft32(a+(b^c^d)+x5+0xfffa3942, 4)
	d = a + bits.RotateLeft32(d+(a^b^c)+x8+0x8771f681, 11)
	c = d + bits.RotateLeft32(c+(d^a^b)+x11+0x6d9d6122, 16)
	b = c + bits.RotateLeft32(b+(c^d^a)+x14+0xfde5380c, 23)
	a = b + bits.RotateLeft32(a+(b^c^d)+x1+0xa4beea44, 4)
	d = a + bits.RotateLeft32(d+(a^b^c)+x4+0x4bdecfa9, 11)
	c = d + bits.RotateLeft32(c+(d^a^b)+x7+0xf6bb4b60, 16)
	b = c + bits.RotateLeft32(b+(c^d^a)+x10+0xbebfbc70, 23)
	a = b + bits.RotateLeft32(a+(b^c^d)+x13+0x289b7ec6, 4)
	d = a + bits.RotateLeft32(d+(a^b^c)+x0+0xeaa127fa, 11)
	c = d + bits.RotateLeft32(c+(d^a^b)+x3+0xd4ef3085, 16)
	b = c + bits.RotateLeft32(b+(c^d^a)+x6+0x04881d05, 23)
	a = b + bits.RotateLeft32(a+(b^c^d)+x9+0xd9d4d039, 4)
	d = a + bits.RotateLeft32(d+(a^b^c)+x12+0xe6db99e5, 11)
	c = d + bits.RotateLeft32(c+(d^a^b)+x15+0x1fa27cf8, 16)
	b = c + bits.RotateLeft32(b+(c^d^a)+x2+0xc4ac5665, 23)
	a = b + bits.RotateLeft32(a+(c^(b|^d))+x0+0xf4292244, 6)
	d = a + bits.RotateLeft32(d+(b^(a|^c))+x7+0x432aff97, 10)
	c = d + bits.RotateLeft32(c+(a^(d|^b))+x14+0xab9423a7, 15)
	b = c + bits.RotateLeft32(b+(d^(c|^a))+x5+0xfc93a039, 21)
	a = b + bits.RotateLeft32(a+(c^(b|^d))+x12+0x655b59c3, 6)
	d = a + bits.RotateLeft32(d+(b^(a|^c))+x3+0x8f0ccc92, 10)
	c = d + bits.RotateLeft32(c+(a^(d|^b))+x10+0xffeff47d, 15)
	b = c + bits.RotateLeft32(b+(d^(c|^a))+x1+0x85845dd1, 21)
	a = b + bits.RotateLeft32(a+(c^(b|^d))+x8+0x6fa87e4f, 6)
	d = a + bits.RotateLeft32(d+(b^(a|^c))+x15+0xfe2ce6e0, 10)
	c = d + bits.RotateLeft32(c+(a^(d|^b))+x6+0xa3014314, 15)
	b = c + bits.RotateLeft32(b+(d^(c|^a))+x13+0x4e0811a1, 21)
	a = b + bits.RotateLeft32(a+(c^(b|^d))+x4+0xf7537e82, 6)
	return bits.ReverseBytes32(a + 0x67452301)
}

// nodeHashes sets hs[i] to md5Hash(client + "-" + strconv.Itoa(i)).
func nodeHashes(hs []uint32, client string, key []byte) []byte {
	if runtime.GOARCH == "wasm" && len(client)+1+len(strconv.Itoa(len(hs))) <= 55 {
		nodeHashesInBlock(hs, client)
		return key
	}
	for i := range hs {
		key = strconv.AppendInt(append(append(key[:0], client...), '-'), int64(i), 10)
		hs[i] = md5Hash(key)
	}
	return key
}

// nodeHashesInBlock is nodeHashes for keys of one block, each written in place in it, its
// number counted up in decimal: building each key with append and strconv cost a
// WebAssembly guest a fifth of its hash.
func nodeHashesInBlock(hs []uint32, client string) {
	var blk [64]byte
	n := copy(blk[:], client)
	blk[n] = '-'
	n++
	blk[n] = '0' // the digits of i are blk[n:end]
	end := n + 1
	for i := range hs {
		if i > 0 { // i-1 plus one
			j := end - 1
			for j >= n && blk[j] == '9' {
				blk[j] = '0'
				j--
			}
			if j >= n {
				blk[j]++
			} else { // 9...9 + 1 = 10...0
				blk[n] = '1'
				blk[end] = '0'
				end++
			}
		}
		blk[end] = 0x80
		binary.LittleEndian.PutUint64(blk[56:], uint64(end)<<3)
		hs[i] = md5Block(&blk)
	}
}
