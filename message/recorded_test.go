package message

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/remoting"
)

var recordedStoreHost = ap("127.0.0.1:10921")

// Every stored message the recorded broker served in a PULL_MESSAGE response decodes to what
// the request asked for and the producer sent, and re-encodes to the very bytes recorded.
func TestRecordedPullBodies(t *testing.T) {
	frames := recorded.MustLoad(t)
	pulls := recordedPulls(t, frames)
	if len(pulls) != 18 {
		t.Fatalf("found %d PULL_MESSAGE responses with a body, want the 18 recorded", len(pulls))
	}
	sent := recordedSends(t, frames)
	compressed, total, matched := 0, 0, 0
	for _, p := range pulls {
		t.Run(p.resp.File, func(t *testing.T) {
			body := p.respCmd.Body
			var raw, plain, zero Decoder
			raw.KeepCompressed, raw.ZeroCopy, zero.ZeroCopy = true, true, true
			rawMsgs, err := raw.DecodeStored(nil, body)
			if err != nil {
				t.Fatalf("decode keeping compressed bodies: %v", err)
			}
			plainMsgs, err := plain.DecodeStored(nil, body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			zeroMsgs, err := zero.DecodeStored(nil, body)
			if err != nil {
				t.Fatalf("decode zero-copy: %v", err)
			}
			if len(rawMsgs) == 0 || len(plainMsgs) != len(rawMsgs) || len(zeroMsgs) != len(rawMsgs) {
				t.Fatalf("decoded %d/%d/%d messages", len(rawMsgs), len(plainMsgs), len(zeroMsgs))
			}
			total += len(rawMsgs)

			req, resp := p.reqCmd.Ext, p.respCmd.Ext
			queueID, _ := strconv.Atoi(req.Get("queueId"))
			reqOffset, _ := strconv.ParseInt(req.Get("queueOffset"), 10, 64)
			next, _ := strconv.ParseInt(resp.Get("nextBeginOffset"), 10, 64)
			maxOffset, _ := strconv.ParseInt(resp.Get("maxOffset"), 10, 64)
			// Offsets increase from the requested one; a broker-side tag filter may skip some.
			if first := rawMsgs[0].QueueOffset; first < reqOffset {
				t.Errorf("first queue offset %d before the requested %d", first, reqOffset)
			}
			if last := rawMsgs[len(rawMsgs)-1].QueueOffset; last >= next || next > maxOffset {
				t.Errorf("last queue offset %d, response says next %d, max %d", last, next, maxOffset)
			}
			if sub := req.Get("subscription"); sub == "*" {
				if last := rawMsgs[len(rawMsgs)-1].QueueOffset; last+1 != next {
					t.Errorf("last queue offset %d, response says next %d (no filter)", last, next)
				}
				for i, e := range rawMsgs {
					if e.QueueOffset != reqOffset+int64(i) {
						t.Errorf("message %d: queue offset %d, want %d (consecutive under '*')", i, e.QueueOffset, reqOffset+int64(i))
					}
				}
			}

			var reencoded []byte
			for i := range rawMsgs {
				e, pe, ze := &rawMsgs[i], &plainMsgs[i], &zeroMsgs[i]
				if i > 0 && e.QueueOffset <= rawMsgs[i-1].QueueOffset {
					t.Errorf("message %d: queue offset %d does not increase", i, e.QueueOffset)
				}
				if e.Topic != req.Get("topic") || int(e.QueueID) != queueID {
					t.Errorf("message %d: %s/%d, request pulled %s/%d", i, e.Topic, e.QueueID, req.Get("topic"), queueID)
				}
				if e.StoreHost != recordedStoreHost || e.BornHost.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("message %d: store host %v, born host %v", i, e.StoreHost, e.BornHost)
				}
				if e.StoreTimestamp < e.BornTimestamp {
					t.Errorf("message %d: stored at %d before born at %d", i, e.StoreTimestamp, e.BornTimestamp)
				}
				if want := BodyCRC(e.Body); e.BodyCRC != want {
					t.Errorf("message %d: body CRC %d, the stored body's is %d", i, e.BodyCRC, want)
				}
				if e.Properties.Get(PropertyCluster) != "DefaultCluster" {
					t.Errorf("message %d: CLUSTER %q", i, e.Properties.Get(PropertyCluster))
				}
				checkIDs(t, e)

				if e.SysFlag&SysFlagCompressed != 0 {
					compressed++
					if e.SysFlag != 0x301 {
						t.Errorf("message %d: compressed with sysFlag %#x, want 0x301", i, e.SysFlag)
					}
					if want := bytes.Repeat([]byte("z"), 5000); !bytes.Equal(pe.Body, want) || !bytes.Equal(ze.Body, want) {
						t.Errorf("message %d: inflated to %d/%d bytes, want 5000 'z'", i, len(pe.Body), len(ze.Body))
					}
					if pe.SysFlag != 0 || pe.Tags() != "TagZ" || pe.Keys() != "big-1" {
						t.Errorf("message %d: inflated sysFlag %#x tags %q keys %q", i, pe.SysFlag, pe.Tags(), pe.Keys())
					}
				} else if !bytes.Equal(pe.Body, e.Body) || !bytes.Equal(ze.Body, e.Body) {
					t.Errorf("message %d: bodies differ between decoders", i)
				}

				if checkAgainstSent(t, i, e, pe, sent) {
					matched++
				}

				one := mustAppendStored(t, nil, e)
				if orig := body[len(reencoded) : len(reencoded)+int(e.StoreSize)]; !bytes.Equal(one, orig) {
					t.Errorf("message %d re-encodes differently\n got %q\nwant %q", i, one, orig)
				}
				reencoded = append(reencoded, one...)
			}
			if !bytes.Equal(reencoded, body) {
				t.Errorf("body re-encodes to %d bytes, differently from the %d recorded", len(reencoded), len(body))
			}
		})
	}
	if matched < total*3/4 {
		t.Errorf("only %d of %d stored messages matched a recorded send", matched, total)
	}
	if compressed < 4 {
		t.Errorf("saw %d compressed messages, the recordings have at least 4", compressed)
	}
	t.Logf("%d stored messages in %d pull bodies, %d compressed, %d matched to their send", total, len(pulls), compressed, matched)
}

// checkIDs checks the unique and offset ids of a recorded stored message.
func checkIDs(t *testing.T, e *Ext) {
	t.Helper()
	host, off, err := ParseOffsetMsgID(e.OffsetMsgID())
	if err != nil || host != e.StoreHost || off != e.CommitLogOffset || len(e.OffsetMsgID()) != 32 {
		t.Errorf("offset id %s parses to %v %d %v", e.OffsetMsgID(), host, off, err)
	}
	if e.UniqKey() == "" { // rocketmq-client-go v2.1.2 sets none in batches
		if e.MsgID() != e.OffsetMsgID() {
			t.Errorf("MsgID %q without UNIQ_KEY, want the offset id %q", e.MsgID(), e.OffsetMsgID())
		}
		return
	}
	if e.MsgID() != e.UniqKey() {
		t.Errorf("MsgID %q, UNIQ_KEY %q", e.MsgID(), e.UniqKey())
	}
	id, err := ParseUniqID(e.UniqKey())
	if err != nil {
		t.Fatalf("UNIQ_KEY: %v", err)
	}
	// Java's producer runs on fd00::2 in the recordings, rocketmq-client-go on 192.0.2.2.
	if ip := id.IP.String(); ip != "fd00::2" && ip != "192.0.2.2" {
		t.Errorf("UNIQ_KEY %s: ip %s", e.UniqKey(), ip)
	}
	// The id is made just before the message is born; the recorder ran in UTC.
	born := time.UnixMilli(e.BornTimestamp).UTC()
	if d := born.Sub(id.Time(born.Add(time.Minute))); id.IP.Is6() && (d < 0 || d > time.Second) {
		t.Errorf("UNIQ_KEY %s made at %v, message born at %v", e.UniqKey(), id.Time(born), born)
	}
}

// checkAgainstSent compares a stored message with the send that produced it.
// It reports whether the send was recorded.
func checkAgainstSent(t *testing.T, i int, raw, plain *Ext, sent map[string]sentMessage) bool {
	t.Helper()
	s, ok := sent[sentKey(raw.UniqKey(), raw.Body)]
	if !ok {
		// Sent by a run whose send was not captured (go-push pulls what earlier runs
		// sent); nothing to compare with.
		return false
	}
	if !bytes.Equal(raw.Body, s.body) {
		t.Errorf("message %d: stored body %q, %s sent %q", i, raw.Body, s.file, s.body)
	}
	if raw.BornTimestamp != s.bornTimestamp || raw.Flag != s.flag {
		t.Errorf("message %d: born %d flag %d, %s sent %d %d", i, raw.BornTimestamp, raw.Flag, s.file, s.bornTimestamp, s.flag)
	}
	if raw.ReconsumeTimes == 0 && (raw.Topic != s.topic || raw.SysFlag&^SysFlagTransactionMask != s.sysFlag&^SysFlagTransactionMask) {
		t.Errorf("message %d: %s sysFlag %#x, %s sent to %s with %#x", i, raw.Topic, raw.SysFlag, s.file, s.topic, s.sysFlag)
	}
	for name, value := range s.props.All() {
		if IsSystemProperty(name) && name != PropertyTags && name != PropertyKeys {
			continue // the broker rewrites some (WAIT, DELAY of retries)
		}
		if got := plain.Properties.Get(name); got != value {
			t.Errorf("message %d: property %s = %q, %s sent %q", i, name, got, s.file, value)
		}
	}
	return true
}

// Zero-copy bodies alias the input; copied ones do not.
func TestRecordedZeroCopyAliasesInput(t *testing.T) {
	frames := recorded.MustLoad(t)
	p := recordedPulls(t, frames)[0]
	for _, zeroCopy := range []bool{false, true} {
		body := bytes.Clone(p.respCmd.Body)
		d := Decoder{ZeroCopy: zeroCopy, KeepCompressed: true}
		msgs, err := d.DecodeStored(nil, body)
		if err != nil {
			t.Fatal(err)
		}
		before := bytes.Clone(msgs[0].Body)
		clear(body)
		if aliased := !bytes.Equal(msgs[0].Body, before); aliased != zeroCopy {
			t.Errorf("ZeroCopy=%v: body aliased the input: %v", zeroCopy, aliased)
		}
		if msgs[0].Tags() != "TagZ" || msgs[0].Topic != "RecTopic" {
			t.Errorf("ZeroCopy=%v: strings changed with the input: %q %q", zeroCopy, msgs[0].Tags(), msgs[0].Topic)
		}
	}
}

// The broker's CHECK_TRANSACTION_STATE request carries the half message; its header repeats
// the message's ids and offsets.
func TestRecordedCheckTransactionState(t *testing.T) {
	frames := recorded.MustLoad(t)
	f := recorded.Find(t, frames, "409-transaction-json-req39.bin")
	c := mustDecodeFrame(t, f)
	if c.RequestCode() != remoting.CheckTransactionState {
		t.Fatalf("frame 409 is %v", c)
	}
	msgs, err := DecodeStored(c.Body)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("decoded %d messages: %v", len(msgs), err)
	}
	e := &msgs[0]
	h := c.Ext
	checks := []struct{ name, got, want string }{
		{"commitLogOffset", strconv.FormatInt(e.CommitLogOffset, 10), h.Get("commitLogOffset")},
		{"tranStateTableOffset", strconv.FormatInt(e.QueueOffset, 10), h.Get("tranStateTableOffset")},
		{"offsetMsgId", e.OffsetMsgID(), h.Get("offsetMsgId")},
		{"msgId", e.MsgID(), h.Get("msgId")},
		{"transactionId", e.UniqKey(), h.Get("transactionId")},
		{"topic", e.Topic, "RecTxTopic"},
		{"REAL_TOPIC", e.Properties.Get(PropertyRealTopic), "RecTxTopic"},
		{"PGROUP", e.ProducerGroup(), "rec_tx_pg"},
		{"TRANSACTION_CHECK_TIMES", e.Properties.Get(PropertyTransactionCheckTimes), "1"},
		{"TAGS", e.Tags(), "TagT"},
		{"KEYS", e.Keys(), "tx-1"},
		{"body", string(e.Body), "transactional body"},
		{"store host", e.StoreHost.String(), recordedStoreHost.String()},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if !e.TransactionPrepared() || e.WaitStoreMsgOK() {
		t.Errorf("TRAN_MSG %v WAIT %v, want true false", e.TransactionPrepared(), e.WaitStoreMsgOK())
	}
	if out := mustAppendStored(t, nil, e); !bytes.Equal(out, c.Body) {
		t.Errorf("re-encodes differently\n got %q\nwant %q", out, c.Body)
	}
}

// A message sent back for retry is redelivered from %RETRY%group with its origin recorded.
func TestRecordedRetryMessage(t *testing.T) {
	frames := recorded.MustLoad(t)
	back := recorded.Find(t, frames, "187-push-json-req36.bin").ExtFields
	msgs, err := DecodeStored(mustDecodeFrame(t, recorded.Find(t, frames, "236-push-json-resp0.bin")).Body)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("decoded %d messages: %v", len(msgs), err)
	}
	e := &msgs[0]
	if e.Topic != RetryTopic("rec_push_cg") || e.RetryTopic() != back["originTopic"] || e.ReconsumeTimes != 1 {
		t.Errorf("topic %s RETRY_TOPIC %s reconsume %d", e.Topic, e.RetryTopic(), e.ReconsumeTimes)
	}
	if e.UniqKey() != back["originMsgId"] || e.DelayLevel() != 3 || e.WaitStoreMsgOK() {
		t.Errorf("UNIQ_KEY %s DELAY %d WAIT %v", e.UniqKey(), e.DelayLevel(), e.WaitStoreMsgOK())
	}
	host, off, err := ParseOffsetMsgID(e.Properties.Get(PropertyOriginMessageID))
	if err != nil || host != recordedStoreHost || strconv.FormatInt(off, 10) != back["offset"] {
		t.Errorf("ORIGIN_MESSAGE_ID %s = %v %d %v, CONSUMER_SEND_MSG_BACK offset %s",
			e.Properties.Get(PropertyOriginMessageID), host, off, err, back["offset"])
	}
}

// The recorded SEND_BATCH_MESSAGE bodies decode and re-encode to the very bytes, including
// rocketmq-client-go's trailing property separator.
func TestRecordedBatchBodies(t *testing.T) {
	frames := recorded.MustLoad(t)
	for _, tc := range []struct {
		file     string
		n        int
		bodyFmt  string
		keys     bool
		trailing bool
	}{
		{"013-send-json-req320.bin", 4, "batch body %d", true, false},
		{"089-send-rocketmq-req320.bin", 4, "batch body %d", true, false},
		{"447-go-send-json-req320.bin", 3, "go batch %d", false, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := recorded.Find(t, frames, tc.file)
			c := mustDecodeFrame(t, f)
			for _, zeroCopy := range []bool{false, true} {
				d := Decoder{ZeroCopy: zeroCopy}
				msgs, err := d.DecodeBatch(nil, c.Body)
				if err != nil || len(msgs) != tc.n {
					t.Fatalf("decoded %d messages, want %d: %v", len(msgs), tc.n, err)
				}
				for i := range msgs {
					m := &msgs[i]
					if want := strconv.Quote(sprintf(tc.bodyFmt, i)); strconv.Quote(string(m.Body)) != want {
						t.Errorf("message %d: body %q, want %s", i, m.Body, want)
					}
					if m.Tags() != "TagB" || (tc.keys && m.Keys() != sprintf("batch-%d", i)) {
						t.Errorf("message %d: tags %q keys %q", i, m.Tags(), m.Keys())
					}
					if tc.keys {
						if _, err := ParseUniqID(m.UniqKey()); err != nil {
							t.Errorf("message %d: %v", i, err)
						}
					}
					m.Topic = c.Ext.Get("b")
				}
				if err := ValidateBatch(msgs, 0); err != nil {
					t.Errorf("recorded batch does not validate: %v", err)
				}
				out, err := AppendBatch(nil, msgs)
				if err != nil || !bytes.Equal(out, c.Body) {
					t.Errorf("re-encodes differently (%v)\n got %q\nwant %q", err, out, c.Body)
				}
			}
		})
	}
}

// The properties strings the recorded producers sent re-encode to the very bytes.
func TestRecordedSendProperties(t *testing.T) {
	n := 0
	for _, f := range recorded.MustLoad(t) {
		var s string
		switch remoting.RequestCode(f.Code) {
		case remoting.SendMessageV2, remoting.SendBatchMessage:
			s = f.ExtFields["i"]
		case remoting.SendMessage:
			s = f.ExtFields["properties"]
		default:
			continue
		}
		if f.Response {
			continue
		}
		n++
		p := ParseProperties(s)
		if got := p.Encode(); got != s {
			t.Errorf("%s: %q re-encodes to %q", f.File, s, got)
		}
		if got := string(p.AppendTo(nil)); got != s || p.EncodedLen() != len(s) {
			t.Errorf("%s: AppendTo %q, EncodedLen %d, want %d", f.File, got, p.EncodedLen(), len(s))
		}
	}
	if n != 21 {
		t.Errorf("checked %d send requests, want the 21 recorded", n)
	}
}

// The Java producer compresses a 5000-byte body with zlib and sysFlag 0x301; so does
// MaybeCompress, and the result inflates back.
func TestRecordedCompressedSend(t *testing.T) {
	frames := recorded.MustLoad(t)
	for _, file := range []string{"012-send-json-req310.bin", "088-send-rocketmq-req310.bin"} {
		f := recorded.Find(t, frames, file)
		c := mustDecodeFrame(t, f)
		plain := bytes.Repeat([]byte("z"), 5000)
		d := Decoder{}
		got, err := d.inflater.inflate(c.Body, DefaultMaxBodySize)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: inflates to %d bytes: %v", file, len(got), err)
		}
		ours, sysFlag, err := MaybeCompress(plain, DefaultCompressThreshold, DefaultCompressLevel)
		if err != nil || strconv.Itoa(int(sysFlag)) != f.ExtFields["f"] {
			t.Fatalf("MaybeCompress: sysFlag %d (header f=%s): %v", sysFlag, f.ExtFields["f"], err)
		}
		back, err := d.inflater.inflate(ours, DefaultMaxBodySize)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("our compressed body inflates to %d bytes: %v", len(back), err)
		}
		t.Logf("Java wrote %d compressed bytes, Go %d (identical: %v)", len(c.Body), len(ours), bytes.Equal(ours, c.Body))
	}
}

// The unique id the Java producer made for the compressed message is what our generator
// makes with the same address, pid, hash, clock (5 ms before the message was born, UTC)
// and counter.
func TestRecordedUniqIDReproduced(t *testing.T) {
	const want = "FD00000000000000000000000000000218CA5FFD2B277BA66B340002"
	at := time.UnixMilli(1795565703993 - 5)
	g := NewUniqIDGenerator(UniqIDConfig{
		IP: netip.MustParseAddr("fd00::2"), PID: 0x18CA, ProcessHash: 0x5FFD2B27,
		Now: func() time.Time { return at }, Location: time.UTC,
	})
	g.Next()
	g.Next()
	if got := g.Next(); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	id, err := ParseUniqID(want)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Time(at.Add(time.Hour)).Equal(at) || id.PID != 0x18CA || id.Counter != 2 {
		t.Errorf("parsed %+v, time %v, want %v", id, id.Time(at.Add(time.Hour)), at)
	}
}

func TestRecordedDecodeErrorsAreTyped(t *testing.T) {
	frames := recorded.MustLoad(t)
	body := recordedPulls(t, frames)[2].respCmd.Body // four messages
	_, err := DecodeStored(body[:len(body)-1])
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated body: %v", err)
	}
	if de.Index != 3 || de.Offset != 236+237+245 {
		t.Errorf("error at message %d offset %d, want message 3 at offset 718: %v", de.Index, de.Offset, err)
	}
}
