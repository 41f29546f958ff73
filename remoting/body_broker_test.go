package remoting

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestBodyCRC32MatchesTheRecordedHeader(t *testing.T) {
	c := recordedCommand(t, "026-send-json-req103.bin")
	var h RegisterBrokerRequest
	if err := h.DecodeFields(c.Ext); err != nil {
		t.Fatal(err)
	}
	if got := BodyCRC32(c.Body); got != h.BodyCRC32 {
		t.Errorf("BodyCRC32 = %d, header says %d", got, h.BodyCRC32)
	}
}

// The compressed form keeps what Java's keeps: the data version, each topic's name, queue
// numbers, perm and filter type, and the filter servers.
func TestRegisterBrokerBodyCompressedRoundTrip(t *testing.T) {
	var recordedBody RegisterBrokerBody
	if err := recordedBody.Decode(recordedCommand(t, "493-go-push-json-req103.bin").Body, false); err != nil {
		t.Fatal(err)
	}
	recordedBody.FilterServers = []string{"10.0.0.1:30000"}
	packed := recordedBody.Encode(true)

	var back RegisterBrokerBody
	if err := back.Decode(packed, true); err != nil {
		t.Fatal(err)
	}
	want := recordedBody
	want.TopicConfig.Topics = map[string]TopicConfig{}
	for name, tc := range recordedBody.TopicConfig.Topics {
		tc.TopicSysFlag, tc.Order = 0, false
		want.TopicConfig.Topics[name] = tc
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("\n got %+v\nwant %+v", back, want)
	}

	// The inflated stream has Java's layout.
	zr, err := zlib.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.ReadFrom(zr)
	n := binary.BigEndian.Uint32(raw.Bytes())
	if got := string(raw.Bytes()[4 : 4+n]); got != `{"counter":`+strconv.FormatInt(recordedBody.TopicConfig.DataVersion.Counter, 10)+`,"timestamp":`+strconv.FormatInt(recordedBody.TopicConfig.DataVersion.Timestamp, 10)+`}` {
		t.Errorf("data version part %s", got)
	}
	if !bytes.Contains(raw.Bytes(), []byte("RecTopic 4 4 6 SINGLE_TAG")) || !bytes.HasSuffix(raw.Bytes(), []byte(`["10.0.0.1:30000"]`)) {
		t.Errorf("inflated body %q", raw.Bytes())
	}
}

func compressParts(parts ...[]byte) []byte {
	var raw []byte
	for _, p := range parts {
		raw = append(raw, p...)
	}
	var out bytes.Buffer
	zw := zlib.NewWriter(&out)
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}

func be32(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

func TestRegisterBrokerBodyRejectsBadCompressedBodies(t *testing.T) {
	version := []byte(`{"counter":1,"timestamp":2}`)
	tests := []struct {
		name string
		body []byte
		text string
	}{
		{"not zlib", []byte("{}"), "zlib"},
		{"truncated after the version", compressParts(be32(int32(len(version))), version), "topic count"},
		{"a length beyond the stream", compressParts(be32(1000)), "unexpected EOF"},
		{"a negative length", compressParts(be32(-1)), "length -1"},
		{"a length beyond the inflate limit", compressParts(be32(maxInflatedRegisterBody)), "exceeds"},
		{"a topic count beyond the body", compressParts(be32(int32(len(version))), version, be32(1<<30)), "topic count"},
		{"a topic line with 4 fields", compressParts(be32(int32(len(version))), version, be32(1), be32(9), []byte("T 1 1 SIX")), "5 fields"},
		{"a topic line with a bad number", compressParts(be32(int32(len(version))), version, be32(1), be32(18), []byte("T 1 x 6 SINGLE_TAG")), "not a 32-bit integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b RegisterBrokerBody
			err := b.Decode(tt.body, true)
			var be *BodyError
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *BodyError", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}
