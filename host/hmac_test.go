package host

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// hmac_sha1 answers what crypto/hmac answers for a message within the bound, and -1,
// writing nothing, for one beyond it (the host function runs outside the deadline) or
// for an instance that is not an RPC hook.
func TestHostHMACSHA1Bounds(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	// A module with nothing but a memory of 272 pages (17 MiB): room for a message over
	// the 16 MiB bound.
	bin := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x00, 0x90, 0x02}
	mod, err := r.Instantiate(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	mem := mod.Memory()
	key, out := uint32(0), uint32(64)
	mem.Write(key, []byte("secret"))
	const msgAt = 1024
	call := func(kind Kind, msgLen uint32) (int32, []byte) {
		g := &guest{kind: kind}
		stack := []uint64{api.EncodeU32(key), 6, api.EncodeU32(msgAt), api.EncodeU32(msgLen), api.EncodeU32(out)}
		mem.Write(out, make([]byte, sha1.Size))
		hostHMACSHA1(&guestContext{Context: ctx, g: g}, mod, stack)
		sum, _ := mem.Read(out, sha1.Size)
		return api.DecodeI32(stack[0]), sum
	}
	msg, _ := mem.Read(msgAt, 100)
	copy(msg, "PRODUCER_GROUPgroupTOPICtopic")
	want := hmac.New(sha1.New, []byte("secret"))
	want.Write(msg)
	if rc, sum := call(KindRPC, 100); rc != 0 || !hmac.Equal(sum, want.Sum(nil)) {
		t.Errorf("within the bound: rc %d, sum %x, want %x", rc, sum, want.Sum(nil))
	}
	zero := make([]byte, sha1.Size)
	for name, c := range map[string]struct {
		kind Kind
		len  uint32
	}{
		"a message over 16 MiB": {KindRPC, maxHMACMessage + 1},
		"a send hook":           {KindSend, 100},
		"a range out of memory": {KindRPC, 17 << 20},
	} {
		if rc, sum := call(c.kind, c.len); rc != -1 || !hmac.Equal(sum, zero) {
			t.Errorf("%s: rc %d, wrote %x", name, rc, sum)
		}
	}
}

// A guest's context gives host functions the guest, and every other key its parent's
// value.
func TestGuestContextValues(t *testing.T) {
	type other struct{}
	g := &guest{}
	ctx := &guestContext{Context: context.WithValue(context.Background(), other{}, "parent's"), g: g}
	if got, _ := ctx.Value(guestKey{}).(*guest); got != g {
		t.Errorf("guestKey: %v", got)
	}
	if got := ctx.Value(other{}); got != "parent's" {
		t.Errorf("a parent's key: %v", got)
	}
	if got := ctx.Value("missing"); got != nil {
		t.Errorf("a missing key: %v", got)
	}
}
