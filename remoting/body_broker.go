package remoting

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// RegisterBrokerBody is the body of REGISTER_BROKER (103), Java's RegisterBrokerBody: the
// broker's topics and filter servers. With RegisterBrokerRequest.Compressed it travels in
// a zlib-compressed binary form instead of JSON (see Encode).
type RegisterBrokerBody struct {
	FilterServers []string           `json:"filterServerList"`
	TopicConfig   TopicConfigWrapper `json:"topicConfigSerializeWrapper"`
}

// TopicConfigWrapper is Java's TopicConfigSerializeWrapper: a broker's topic configs and
// their data version.
type TopicConfigWrapper struct {
	DataVersion DataVersion `json:"dataVersion"`
	// Topics by name; the broker's table is a ConcurrentHashMap created with capacity 1024,
	// whose iteration order Encode follows.
	Topics map[string]TopicConfig `json:"topicConfigTable"`
}

// DataVersion is Java's DataVersion: bumped by a broker whenever its topic table changes.
type DataVersion struct {
	Counter   int64 `json:"counter"`
	Timestamp int64 `json:"timestamp"`
}

// TopicConfig is one topic on a broker, Java's TopicConfig.
type TopicConfig struct {
	Order           bool   `json:"order"`
	Perm            int32  `json:"perm"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	TopicFilterType string `json:"topicFilterType"` // "SINGLE_TAG" or "MULTI_TAG"
	TopicName       string `json:"topicName"`
	TopicSysFlag    int32  `json:"topicSysFlag"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
}

// BodyCRC32 is what a broker puts in RegisterBrokerRequest.BodyCRC32: the CRC32 of the
// body masked to 31 bits (Java's UtilAll.crc32).
func BodyCRC32(body []byte) int32 { return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF) }

// Encode returns the body as RegisterBrokerBody.encode(compress) writes it. Uncompressed
// it is fastjson's JSON. Compressed it is a zlib stream (Java: Deflater level 9; Go's
// deflate output differs in bytes but inflates the same) of big-endian int32-length-
// prefixed parts: the data version's JSON, the number of topics, each topic as
// "name read write perm filterType", and the filter server list's JSON. That form drops
// each topic's topicSysFlag and order, as Java's does.
func (b *RegisterBrokerBody) Encode(compress bool) []byte {
	if !compress {
		w := jsonWriter{}
		w.open('{')
		w.key("filterServerList")
		w.strings(b.FilterServers)
		w.key("topicConfigSerializeWrapper")
		w.topicConfigWrapper(&b.TopicConfig)
		w.close('}')
		return w.b
	}
	var raw []byte
	part := func(p []byte) {
		raw = binary.BigEndian.AppendUint32(raw, uint32(len(p)))
		raw = append(raw, p...)
	}
	part(b.TopicConfig.DataVersion.encode())
	topics := b.TopicConfig.Topics
	raw = binary.BigEndian.AppendUint32(raw, uint32(len(topics)))
	// cloneTopicConfigTable copies into a ConcurrentHashMap sized for the topics.
	for _, name := range sortedKeys(topics, javaTable{initial: len(topics), concurrent: true}, false) {
		t := topics[name]
		part([]byte(t.TopicName + " " + strconv.Itoa(int(t.ReadQueueNums)) + " " +
			strconv.Itoa(int(t.WriteQueueNums)) + " " + strconv.Itoa(int(t.Perm)) + " " + t.TopicFilterType))
	}
	list := jsonWriter{}
	list.strings(b.FilterServers)
	part(list.b)

	var out bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&out, zlib.BestCompression) // the level is valid
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}

func (w *jsonWriter) topicConfigWrapper(t *TopicConfigWrapper) {
	w.open('{')
	w.key("dataVersion")
	w.b = append(w.b, t.DataVersion.encode()...)
	w.key("topicConfigTable")
	w.open('{')
	for _, name := range sortedKeys(t.Topics, javaTable{initial: 1024, concurrent: true}, false) {
		c := t.Topics[name]
		w.key(name)
		w.open('{')
		w.boolField("order", c.Order)
		w.intField("perm", int64(c.Perm))
		w.intField("readQueueNums", int64(c.ReadQueueNums))
		w.optStrField("topicFilterType", c.TopicFilterType)
		w.optStrField("topicName", c.TopicName)
		w.intField("topicSysFlag", int64(c.TopicSysFlag))
		w.intField("writeQueueNums", int64(c.WriteQueueNums))
		w.close('}')
	}
	w.close('}')
	w.close('}')
}

func (v DataVersion) encode() []byte {
	w := jsonWriter{}
	w.open('{')
	w.longField("counter", v.Counter)
	w.longField("timestamp", v.Timestamp)
	w.close('}')
	return w.b
}

// maxInflatedRegisterBody bounds what a compressed RegisterBrokerBody may inflate to, so
// that a small hostile body cannot make the NameServer allocate without limit. A broker
// with 100 000 topics needs about 5 MiB.
const maxInflatedRegisterBody = 64 << 20

// Decode reads a body as RegisterBrokerBody.decode(data, compressed) does.
func (b *RegisterBrokerBody) Decode(data []byte, compressed bool) error {
	*b = RegisterBrokerBody{}
	if !compressed {
		return decodeBody("RegisterBrokerBody", data, b)
	}
	if err := b.inflate(data); err != nil {
		return &BodyError{Body: "RegisterBrokerBody", Err: err}
	}
	return nil
}

func (b *RegisterBrokerBody) inflate(data []byte) error {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer zr.Close()
	r := &inflated{r: io.LimitReader(zr, maxInflatedRegisterBody), left: maxInflatedRegisterBody}
	version, err := r.part("data version")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(version, &b.TopicConfig.DataVersion); err != nil {
		return fmt.Errorf("data version: %w", err)
	}
	n, err := r.int32("topic count")
	if err != nil {
		return err
	}
	if n < 0 || int64(n)*4 > r.left {
		return fmt.Errorf("topic count %d exceeds the body", n)
	}
	b.TopicConfig.Topics = make(map[string]TopicConfig, min(n, 4096))
	for i := range n {
		line, err := r.part("topic config")
		if err != nil {
			return err
		}
		t, err := parseTopicConfigLine(string(line))
		if err != nil {
			return fmt.Errorf("topic config %d: %w", i, err)
		}
		b.TopicConfig.Topics[t.TopicName] = t
	}
	list, err := r.part("filter server list")
	if err != nil {
		return err
	}
	// Java logs a bad list and carries on with an empty one.
	if json.Unmarshal(list, &b.FilterServers) != nil {
		b.FilterServers = []string{}
	}
	return nil
}

// parseTopicConfigLine reads TopicConfig.encode's "name read write perm filterType".
func parseTopicConfigLine(line string) (TopicConfig, error) {
	f := strings.Split(line, " ")
	for len(f) > 0 && f[len(f)-1] == "" { // String.split drops trailing empty strings
		f = f[:len(f)-1]
	}
	if len(f) != 5 {
		return TopicConfig{}, fmt.Errorf("%q does not have 5 fields", line)
	}
	t := TopicConfig{TopicName: f[0], TopicFilterType: f[4]}
	for i, dst := range []*int32{&t.ReadQueueNums, &t.WriteQueueNums, &t.Perm} {
		v, err := strconv.ParseInt(f[i+1], 10, 32)
		if err != nil {
			return TopicConfig{}, fmt.Errorf("%q: %q is not a 32-bit integer", line, f[i+1])
		}
		*dst = int32(v)
	}
	if t.TopicFilterType != "SINGLE_TAG" && t.TopicFilterType != "MULTI_TAG" {
		return TopicConfig{}, fmt.Errorf("%q: unknown topic filter type", line)
	}
	return t, nil
}

// inflated reads the length-prefixed parts of a compressed RegisterBrokerBody.
type inflated struct {
	r    io.Reader
	left int64
}

func (r *inflated) int32(what string) (int32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		return 0, fmt.Errorf("%s: %w", what, noEOF(err))
	}
	r.left -= 4
	return int32(binary.BigEndian.Uint32(b[:])), nil
}

func (r *inflated) part(what string) ([]byte, error) {
	n, err := r.int32(what + " length")
	if err != nil {
		return nil, err
	}
	if n < 0 || int64(n) > r.left {
		return nil, fmt.Errorf("%s length %d exceeds the %d bytes left", what, n, r.left)
	}
	// ReadAll grows with what arrives: a length claimed but not sent allocates nothing.
	p, err := io.ReadAll(io.LimitReader(r.r, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(p) != int(n) {
		return nil, fmt.Errorf("%s: %w", what, io.ErrUnexpectedEOF)
	}
	r.left -= int64(n)
	return p, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
