package netpoll

import (
	"fmt"
	"testing"

	np "github.com/cloudwego/netpoll"

	"github.com/mqgate/mqgate/remoting"
)

// BenchmarkReadFrame compares ways to take a frame out of netpoll's input buffer so that
// the decoded command may outlive the buffer: copy the whole frame (ReadBinary), decode in
// place and copy only the body (Next), or keep a zero-copy reference (Slice).
func BenchmarkReadFrame(b *testing.B) {
	for _, bodySize := range []int{0, 128, 64 << 10} {
		req := benchRequest()
		req.Body = make([]byte, bodySize)
		frame, err := req.AppendFrame(nil)
		if err != nil {
			b.Fatal(err)
		}
		n := len(frame) - 4
		for _, mode := range []string{"ReadBinary", "Next+body-copy", "Slice"} {
			b.Run(fmt.Sprintf("body=%d/%s", bodySize, mode), func(b *testing.B) {
				buf := np.NewLinkBuffer()
				b.ReportAllocs()
				b.SetBytes(int64(len(frame)))
				for b.Loop() {
					p, _ := buf.Malloc(len(frame))
					copy(p, frame)
					_ = buf.Flush()
					_ = buf.Skip(4)
					cmd := new(remoting.Command)
					switch mode {
					case "ReadBinary":
						payload, _ := buf.ReadBinary(n)
						_ = cmd.Decode(payload)
					case "Next+body-copy":
						payload, _ := buf.Next(n)
						_ = cmd.Decode(payload)
						if len(cmd.Body) > 0 {
							cmd.Body = append([]byte(nil), cmd.Body...)
						}
					case "Slice":
						r, _ := buf.Slice(n)
						payload, _ := r.Next(n)
						_ = cmd.Decode(payload)
					}
					_ = buf.Release()
				}
			})
		}
	}
}
