package host

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"hash"

	"github.com/tetratelabs/wazero/api"
)

// hostHMACSHA1 is mqgate.hmac_sha1 (ABI.md §7): the HMAC-SHA1 of a message under a key,
// for RPC hooks that sign requests (the ACL's signature). SHA-1 in Go compiled to
// WebAssembly costs microseconds a request; natively, a few hundred nanoseconds. It
// answers -1 to an instance that is not an RPC hook (the load refuses such a module; an
// RPC hook's _initialize, before its kind is known, gets -1 too) and for a range outside
// memory or a message longer than maxHMACMessage.
func hostHMACSHA1(ctx context.Context, mod api.Module, stack []uint64) {
	g, _ := ctx.Value(guestKey{}).(*guest)
	mem := mod.Memory()
	key, ok1 := mem.Read(api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	msg, ok2 := mem.Read(api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	out, ok3 := mem.Read(api.DecodeU32(stack[4]), sha1.Size)
	if g == nil || g.kind != KindRPC || !ok1 || !ok2 || !ok3 || len(msg) > maxHMACMessage {
		stack[0] = api.EncodeI32(-1)
		return
	}
	g.mac.sum(key, msg, out)
	stack[0] = 0
	g.spent(hostCallWork + len(key) + len(msg))
}

// maxHMACMessage bounds what one hmac_sha1 hashes (~20 ms of host CPU); a large one
// makes the call look at its deadline (guest.spent). A request frame is at most 16 MiB;
// its signed content is less.
const maxHMACMessage = 16 << 20

// keyedMAC is an instance's HMAC, keyed once for as long as the key does not change (a
// plugin signs with one secret), so that a signature allocates nothing.
type keyedMAC struct {
	key []byte
	mac hash.Hash
	buf [sha1.Size]byte
}

// sum writes the HMAC-SHA1 of msg under key into out (sha1.Size bytes). key, msg and out
// may overlap: they are the module's memory.
func (k *keyedMAC) sum(key, msg, out []byte) {
	if k.mac == nil || !bytes.Equal(k.key, key) {
		k.key = append(k.key[:0], key...)
		k.mac = hmac.New(sha1.New, k.key)
	} else {
		k.mac.Reset()
	}
	k.mac.Write(msg)
	copy(out, k.mac.Sum(k.buf[:0]))
}
