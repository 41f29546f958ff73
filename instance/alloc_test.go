//go:build !race

package instance

// Allocation counts are meaningless under the race detector, which makes sync.Pool drop
// items at random.

import (
	"context"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/remotingtest"
	"github.com/mqgate/mqgate/remoting"
)

// SendMessage allocates nothing beyond what the transport allocates for the exchange:
// compare it with a bare netpoll Invoke of a prebuilt request.
func TestSendMessageAllocatesNoMoreThanTheTransport(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	broker := remotingtest.NewServer(t)
	broker.Answer(remoting.SendMessageV2, remoting.Success, "", sendOK...)
	i := startInstance(t, testConfig(clock.NewFake(epoch), "127.0.0.1:1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := sendHeader("T")
	body := []byte("hello")
	if _, err := i.SendMessage(ctx, broker.Addr(), "b1", h, body, "ID"); err != nil {
		t.Fatal(err)
	}
	cl, _ := i.transport()
	raw := &remoting.Command{Code: int32(remoting.SendMessageV2), Language: remoting.LanguageGo, Version: 401,
		Serialize: remoting.RocketMQ, Header: h.V2(), Body: body}
	bare := testing.AllocsPerRun(300, func() {
		if _, err := cl.Invoke(ctx, broker.Addr(), raw); err != nil {
			t.Fatal(err)
		}
	})
	ours := testing.AllocsPerRun(300, func() {
		if _, err := i.SendMessage(ctx, broker.Addr(), "b1", h, body, "ID"); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations per send: transport %.1f, SendMessage %.1f", bare, ours)
	if ours > bare+0.5 {
		t.Errorf("SendMessage allocates %.1f per call, the transport alone %.1f", ours, bare)
	}
}
