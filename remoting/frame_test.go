package remoting

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
)

func TestRecordedFramesDecodeToTheirIndex(t *testing.T) {
	for _, f := range recorded.MustLoad(t) {
		t.Run(f.File, func(t *testing.T) {
			c, err := DecodeFrame(f.Bytes, 0)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if c.Serialize.String() != f.SerializeType {
				t.Errorf("serialize type %s, index says %s", c.Serialize, f.SerializeType)
			}
			if c.Code != f.Code || c.Opaque != f.Opaque || c.Flag != f.Flag || c.Version != f.Version {
				t.Errorf("code/opaque/flag/version = %d/%d/%d/%d, index says %d/%d/%d/%d",
					c.Code, c.Opaque, c.Flag, c.Version, f.Code, f.Opaque, f.Flag, f.Version)
			}
			if c.IsResponse() != f.Response || c.IsOneway() != f.Oneway {
				t.Errorf("response/oneway = %v/%v, index says %v/%v", c.IsResponse(), c.IsOneway(), f.Response, f.Oneway)
			}
			wantRemark := ""
			if f.Remark != nil {
				wantRemark = *f.Remark
			}
			if c.Remark != wantRemark {
				t.Errorf("remark %q, index says %q", c.Remark, wantRemark)
			}
			got := map[string]string{}
			for _, fl := range c.Ext {
				got[fl.Key] = fl.Value
			}
			if len(got) != len(f.ExtFields) || (len(got) > 0 && !reflect.DeepEqual(got, f.ExtFields)) {
				t.Errorf("extFields %v, index says %v", got, f.ExtFields)
			}
			if len(c.Body) != f.BodyLength {
				t.Errorf("body %d bytes, index says %d", len(c.Body), f.BodyLength)
			}
			switch lang := f.Language.(type) {
			case string:
				if c.Language.String() != lang {
					t.Errorf("language %s, index says %s", c.Language, lang)
				}
			case float64:
				if int(c.Language) != int(lang) {
					t.Errorf("language %d, index says %v", c.Language, lang)
				}
			}
		})
	}
}

// Frames written by Java (fastjson JSON headers, ROCKETMQ headers) re-encode to the very
// bytes recorded. rocketmq-client-go orders its JSON keys differently, so its frames
// re-encode to an equivalent header (same JSON value) and the same body.
func TestRecordedFramesReencode(t *testing.T) {
	for _, f := range recorded.MustLoad(t) {
		t.Run(f.File, func(t *testing.T) {
			c, err := DecodeFrame(f.Bytes, 0)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := c.AppendFrame(nil)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if c.Language == LanguageJava {
				if !bytes.Equal(out, f.Bytes) {
					t.Fatalf("re-encoded frame differs\n got %q\nwant %q", out, f.Bytes)
				}
				return
			}
			gotH, gotB := splitFrame(t, out)
			wantH, wantB := splitFrame(t, f.Bytes)
			if !bytes.Equal(gotB, wantB) {
				t.Errorf("body differs")
			}
			var gv, wv map[string]any
			if err := json.Unmarshal(gotH, &gv); err != nil {
				t.Fatalf("our header is not JSON: %v: %s", err, gotH)
			}
			if err := json.Unmarshal(wantH, &wv); err != nil {
				t.Fatal(err)
			}
			delete(gv, "serializeTypeCurrentRPC")
			if wv["remark"] == "" {
				delete(wv, "remark")
			}
			if !reflect.DeepEqual(gv, wv) {
				t.Errorf("header differs\n got %s\nwant %s", gotH, wantH)
			}
		})
	}
}

func splitFrame(t *testing.T, frame []byte) (header, body []byte) {
	t.Helper()
	hlen := int(frame[5])<<16 | int(frame[6])<<8 | int(frame[7])
	return frame[8 : 8+hlen], frame[8+hlen:]
}

func TestDecodeRejectsMalformedFrames(t *testing.T) {
	valid, err := (&Command{Code: 105, Ext: ExtFields{{"topic", "T"}}, Serialize: RocketMQ}).AppendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
		text  string
	}{
		{"length beyond the maximum", []byte{0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0}, ErrFrameTooLarge, "limit"},
		{"negative length", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}, ErrMalformedFrame, "smaller than"},
		{"length disagrees with the bytes", append([]byte{0, 0, 0, 9}, valid[4:]...), ErrMalformedFrame, "follow"},
		{"header length beyond frame", []byte{0, 0, 0, 8, 0, 0, 0x10, 0, '{', '}', ' ', ' '}, ErrMalformedFrame, "header length 4096 exceeds frame length 8"},
		{"unknown serialize type", []byte{0, 0, 0, 4, 7, 0, 0, 0}, ErrMalformedFrame, "serialize type 7"},
		{"truncated binary header", []byte{0, 0, 0, 7, 1, 0, 0, 3, 0, 105, 0}, ErrMalformedFrame, "fixed part"},
		{"json garbage", []byte{0, 0, 0, 7, 0, 0, 0, 3, '{', 'x', '}'}, ErrMalformedFrame, "expected ':'"},
		{"json code not a number", append([]byte{0, 0, 0, 16, 0, 0, 0, 12}, `{"code":"x"}`...), ErrMalformedFrame, "not a 32-bit integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFrame(tt.frame, 0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}

func TestUnknownCodesDecodeAsUnknown(t *testing.T) {
	frame, err := (&Command{Code: 9999, Serialize: RocketMQ}).AppendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeFrame(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RequestCode().String(); got != "RequestCode(9999)" {
		t.Errorf("String() = %q", got)
	}
	if got := ResponseCode(4242).String(); got != "ResponseCode(4242)" {
		t.Errorf("String() = %q", got)
	}
	if got := PullMessage.String(); got != "PULL_MESSAGE" {
		t.Errorf("String() = %q", got)
	}
}

// TestFrameLengthCountsThePrefix pins the limit where Java's decoder puts it: a frame of
// frameMaxLength bytes, its 4-byte length prefix included, passes; one byte more makes a
// Java broker close the connection, and is refused here.
func TestFrameLengthCountsThePrefix(t *testing.T) {
	for _, tt := range []struct {
		declared uint32
		max      int
		ok       bool
	}{
		{DefaultMaxFrameLength - 4, 0, true},
		{DefaultMaxFrameLength - 3, 0, false},
		{DefaultMaxFrameLength, 0, false},
		{1020, 1024, true},
		{1021, 1024, false},
	} {
		n, err := FrameLength(binary.BigEndian.AppendUint32(nil, tt.declared), tt.max)
		if tt.ok && (err != nil || n != int(tt.declared)) {
			t.Errorf("declared %d, limit %d: %d, %v; want it accepted", tt.declared, tt.max, n, err)
		}
		if !tt.ok && !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("declared %d, limit %d: %v; want ErrFrameTooLarge", tt.declared, tt.max, err)
		}
	}
}
