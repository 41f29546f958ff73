package message

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/remoting"
)

// recordedPull is a PULL_MESSAGE request and its FOUND response, with a body.
type recordedPull struct {
	req, resp       *recorded.Frame
	reqCmd, respCmd *remoting.Command
}

func mustDecodeFrame(tb testing.TB, f *recorded.Frame) *remoting.Command {
	tb.Helper()
	c, err := remoting.DecodeFrame(f.Bytes, 0)
	if err != nil {
		tb.Fatalf("%s: %v", f.File, err)
	}
	return c
}

// recordedPulls pairs each PULL_MESSAGE response of code 0 that has a body with its
// request: same scenario and opaque, the request before it.
func recordedPulls(tb testing.TB, frames []recorded.Frame) []recordedPull {
	tb.Helper()
	var pulls []recordedPull
	for i := range frames {
		resp := &frames[i]
		if !resp.Response || resp.Code != 0 || resp.BodyLength == 0 || resp.Peer != "broker" {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			req := &frames[j]
			if req.Scenario == resp.Scenario && req.Opaque == resp.Opaque && !req.Response && req.FromClient() && req.Peer == "broker" {
				if req.Code == int32(remoting.PullMessage) {
					pulls = append(pulls, recordedPull{req: req, resp: resp,
						reqCmd: mustDecodeFrame(tb, req), respCmd: mustDecodeFrame(tb, resp)})
				}
				break
			}
		}
	}
	return pulls
}

// sentMessage is what a producer sent, read from a recorded SEND_MESSAGE(_V2) or
// SEND_BATCH_MESSAGE request.
type sentMessage struct {
	file          string
	topic         string
	body          []byte
	sysFlag       int32
	flag          int32
	bornTimestamp int64
	props         Properties
}

// recordedSends indexes every message the recorded producers sent by its UNIQ_KEY.
func recordedSends(tb testing.TB, frames []recorded.Frame) map[string]sentMessage {
	tb.Helper()
	atoi := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			tb.Fatalf("number %q: %v", s, err)
		}
		return n
	}
	sent := map[string]sentMessage{}
	for i := range frames {
		f := &frames[i]
		if f.Response || !f.FromClient() {
			continue
		}
		var s sentMessage
		switch remoting.RequestCode(f.Code) {
		case remoting.SendMessageV2, remoting.SendBatchMessage:
			e := f.ExtFields
			s = sentMessage{topic: e["b"], sysFlag: int32(atoi(e["f"])), flag: int32(atoi(e["h"])),
				bornTimestamp: atoi(e["g"]), props: ParseProperties(e["i"])}
		case remoting.SendMessage:
			e := f.ExtFields
			s = sentMessage{topic: e["topic"], sysFlag: int32(atoi(e["sysFlag"])), flag: int32(atoi(e["flag"])),
				bornTimestamp: atoi(e["bornTimestamp"]), props: ParseProperties(e["properties"])}
		default:
			continue
		}
		s.file = f.File
		body := mustDecodeFrame(tb, f).Body
		if f.Code != int32(remoting.SendBatchMessage) {
			s.body = body
			sent[sentKey(s.props.Get(PropertyUniqKey), body)] = s
			continue
		}
		msgs, err := DecodeBatch(body)
		if err != nil {
			tb.Fatalf("%s: %v", f.File, err)
		}
		for _, m := range msgs {
			one := s
			one.body, one.flag, one.props = m.Body, m.Flag, m.Properties
			sent[sentKey(m.UniqKey(), m.Body)] = one
		}
	}
	return sent
}

// sentKey identifies a sent message: its UNIQ_KEY, or its body when it has none
// (rocketmq-client-go v2.1.2 sets no UNIQ_KEY on batch messages).
func sentKey(uniqKey string, body []byte) string {
	if uniqKey != "" {
		return uniqKey
	}
	return "body:" + string(body)
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// sampleExt is a plausible stored message, IPv4 hosts, like those in the recordings.
func sampleExt(body []byte) Ext {
	e := Ext{
		Message:         Message{Topic: "RecTopic", Body: body},
		QueueID:         1,
		QueueOffset:     42,
		CommitLogOffset: 2977,
		BornTimestamp:   1795565714007,
		BornHost:        ap("127.0.0.1:38158"),
		StoreTimestamp:  1795565714085,
		StoreHost:       ap("127.0.0.1:10921"),
	}
	e.SetKeys("key-1", "key-2")
	e.SetUniqKey("FD00000000000000000000000000000219A35FFD2B277BA692540000")
	e.Properties.Set(PropertyCluster, "DefaultCluster")
	e.SetTags("TagA")
	return e
}

func mustAppendStored(tb testing.TB, dst []byte, e *Ext) []byte {
	tb.Helper()
	out, err := AppendStored(dst, e)
	if err != nil {
		tb.Fatalf("AppendStored: %v", err)
	}
	return out
}

// pullBody builds a PULL_MESSAGE body of n messages of size bytes each.
func pullBody(tb testing.TB, n, size int) []byte {
	var b []byte
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	for i := range n {
		e := sampleExt(body)
		e.QueueOffset = int64(i)
		e.CommitLogOffset = int64(i * (size + 250))
		b = mustAppendStored(tb, b, &e)
	}
	return b
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
