package remoting

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// recordedBody is what the test needs to know of a recorded body: how to decode and
// re-encode it.
type recordedBody struct {
	name   string
	decode func([]byte) error
	encode func() []byte
	value  any
}

// bodyOf returns the body type of a recorded frame, given its request when it is a
// response; ok is false for frames without a JSON body (messages, empty bodies).
func bodyOf(c *Command, req *recorded.Frame) (recordedBody, bool) {
	if len(c.Body) == 0 {
		return recordedBody{}, false
	}
	if !c.IsResponse() {
		switch c.RequestCode() {
		case Heartbeat:
			b := new(HeartbeatData)
			return recordedBody{"HeartbeatData", b.Decode, b.Encode, b}, true
		case LockBatchMQ, UnlockBatchMQ:
			b := new(LockBatchRequestBody)
			return recordedBody{"LockBatchRequestBody", b.Decode, b.Encode, b}, true
		case RegisterBroker:
			var h RegisterBrokerRequest
			if err := h.DecodeFields(c.Ext); err != nil || h.Compressed {
				return recordedBody{}, false
			}
			b := new(RegisterBrokerBody)
			return recordedBody{"RegisterBrokerBody", func(d []byte) error { return b.Decode(d, false) },
				func() []byte { return b.Encode(false) }, b}, true
		}
		return recordedBody{}, false
	}
	if c.ResponseCode() != Success || req == nil {
		return recordedBody{}, false
	}
	switch RequestCode(req.Code) {
	case GetRouteInfoByTopic:
		b := new(TopicRouteData)
		enc := b.Encode
		if (&RouteInfoRequest{}).StandardJSON(req.Version) {
			enc = b.EncodeStandard
		}
		return recordedBody{"TopicRouteData", b.Decode, enc, b}, true
	case GetBrokerClusterInfo:
		b := new(ClusterInfo)
		return recordedBody{"ClusterInfo", b.Decode, b.Encode, b}, true
	case GetConsumerListByGroup:
		b := new(ConsumerListBody)
		return recordedBody{"ConsumerListBody", b.Decode, b.Encode, b}, true
	case LockBatchMQ:
		b := new(LockBatchResponseBody)
		return recordedBody{"LockBatchResponseBody", b.Decode, b.Encode, b}, true
	case GetConsumerConnectionList:
		b := new(ConsumerConnection)
		return recordedBody{"ConsumerConnection", b.Decode, b.Encode, b}, true
	case GetConsumerRunningInfo:
		b := new(ConsumerRunningInfo)
		return recordedBody{"ConsumerRunningInfo", b.Decode, b.Encode, b}, true
	}
	return recordedBody{}, false
}

// Every JSON body in the recordings decodes, re-encodes to the recorded bytes (or, where
// the bytes are not reproducible, to equivalent JSON), and decodes again to the same value.
func TestRecordedBodiesReencode(t *testing.T) {
	frames := recorded.MustLoad(t)
	reqOf := requestsOf(frames)
	tested := map[string]int{}
	for i := range frames {
		f := &frames[i]
		c, err := DecodeFrame(f.Bytes, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := bodyOf(c, reqOf[f.File])
		if !ok {
			continue
		}
		tested[b.name]++
		t.Run(f.File+"/"+b.name, func(t *testing.T) {
			if err := b.decode(c.Body); err != nil {
				t.Fatalf("decode: %v\n%s", err, c.Body)
			}
			first := reflect.ValueOf(b.value).Elem().Interface()
			out := b.encode()
			switch {
			case strings.HasPrefix(f.Scenario, "go-") && !c.IsResponse():
				// rocketmq-client-go orders keys its own way and writes codeSet as
				// strings: only the value must survive, checked below.
			case b.name == "ConsumerRunningInfo":
				// Java iterates java.util.Properties in an order its JSON does not record.
				assertSameJSON(t, out, c.Body)
			default:
				if !bytes.Equal(out, c.Body) {
					t.Errorf("re-encoded body differs\n got %s\nwant %s", out, c.Body)
				}
			}
			if err := b.decode(out); err != nil {
				t.Fatalf("decoding our own encoding: %v\n%s", err, out)
			}
			if again := reflect.ValueOf(b.value).Elem().Interface(); !reflect.DeepEqual(again, first) {
				t.Errorf("value changed through encode and decode\n got %+v\nwant %+v", again, first)
			}
		})
	}
	for _, want := range []string{"HeartbeatData", "LockBatchRequestBody", "RegisterBrokerBody", "TopicRouteData",
		"ClusterInfo", "ConsumerListBody", "LockBatchResponseBody", "ConsumerConnection", "ConsumerRunningInfo"} {
		if tested[want] == 0 {
			t.Errorf("no recorded frame exercised %s", want)
		}
	}
}

// assertSameJSON checks that two fastjson documents hold the same value.
func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var gv, wv any
	for _, x := range []struct {
		data []byte
		v    *any
	}{{got, &gv}, {want, &wv}} {
		norm, err := normalizeJSON(x.data)
		if err != nil {
			t.Fatalf("normalize: %v\n%s", err, x.data)
		}
		if err := json.Unmarshal(norm, x.v); err != nil {
			t.Fatalf("unmarshal: %v\n%s", err, norm)
		}
	}
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("JSON differs\n got %s\nwant %s", got, want)
	}
}

func recordedCommand(tb testing.TB, file string) *Command {
	tb.Helper()
	c, err := DecodeFrame(recorded.Find(tb, recorded.MustLoad(tb), file).Bytes, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestRecordedBodyValues(t *testing.T) {
	t.Run("route of a 4.9.4 client has quoted broker ids", func(t *testing.T) {
		var r TopicRouteData
		if err := r.Decode(recordedCommand(t, "005-send-json-resp0.bin").Body); err != nil {
			t.Fatal(err)
		}
		want := TopicRouteData{
			Brokers:       []BrokerData{{Addrs: map[int64]string{0: "127.0.0.1:10921"}, BrokerName: "broker-tap", Cluster: "DefaultCluster"}},
			FilterServers: map[string][]string{},
			Queues:        []QueueData{{BrokerName: "broker-tap", Perm: 7, ReadQueueNums: 8, WriteQueueNums: 8}},
		}
		if !reflect.DeepEqual(r, want) {
			t.Errorf("\n got %+v\nwant %+v", r, want)
		}
		if !bytes.Contains(r.EncodeStandard(), []byte(`{"0":"127.0.0.1:10921"}`)) || !bytes.Contains(r.Encode(), []byte(`{0:"127.0.0.1:10921"}`)) {
			t.Errorf("broker ids: standard %s, default %s", r.EncodeStandard(), r.Encode())
		}
	})
	t.Run("route of rocketmq-client-go has bare broker ids", func(t *testing.T) {
		var r TopicRouteData
		if err := r.Decode(recordedCommand(t, "445-go-send-json-resp0.bin").Body); err != nil {
			t.Fatal(err)
		}
		if r.Brokers[0].MasterAddr() != "127.0.0.1:10921" || r.Queues[0].Perm != 6 {
			t.Errorf("%+v", r)
		}
	})
	t.Run("cluster info", func(t *testing.T) {
		var ci ClusterInfo
		if err := ci.Decode(recordedCommand(t, "300-push-json-resp0.bin").Body); err != nil {
			t.Fatal(err)
		}
		if ci.Brokers["broker-tap"].Addrs[0] != "127.0.0.1:10921" || !reflect.DeepEqual(ci.Clusters["DefaultCluster"], []string{"broker-tap"}) {
			t.Errorf("%+v", ci)
		}
	})
	t.Run("Go heartbeat has codeSet as strings", func(t *testing.T) {
		var h HeartbeatData
		if err := h.Decode(recordedCommand(t, "458-go-push-json-req34.bin").Body); err != nil {
			t.Fatal(err)
		}
		s := h.Consumers[0].Subscriptions[0]
		if h.ClientID != "192.0.2.2@recgo" || !reflect.DeepEqual(s.CodeSet, []int32{2598919, 2598920}) ||
			s.SubVersion != 1795566875076271414 || h.Consumers[0].ConsumeType != ConsumePassively {
			t.Errorf("%+v", h)
		}
	})
	t.Run("running info keys its queues by object", func(t *testing.T) {
		var ri ConsumerRunningInfo
		if err := ri.Decode(recordedCommand(t, "273-push-json-resp0.bin").Body); err != nil {
			t.Fatal(err)
		}
		pq, ok := ri.MQTable[MessageQueue{BrokerName: "broker-tap", QueueID: 3, Topic: "RecTopic"}]
		if !ok || pq.CommitOffset != 1 || pq.LastPullTimestamp != 1795565729297 || len(ri.MQTable) != 2 {
			t.Errorf("mqTable %+v", ri.MQTable)
		}
		if ri.Properties[PropClientVersion] != "V4_9_4" || ri.Properties["consumerGroup"] != "rec_push_cg" ||
			len(ri.StatusTable) != 2 || len(ri.Subscriptions) != 2 {
			t.Errorf("%+v", ri)
		}
	})
	t.Run("register broker topics", func(t *testing.T) {
		var rb RegisterBrokerBody
		if err := rb.Decode(recordedCommand(t, "026-send-json-req103.bin").Body, false); err != nil {
			t.Fatal(err)
		}
		if rb.TopicConfig.DataVersion.Counter != 2 || len(rb.TopicConfig.Topics) != 10 ||
			rb.TopicConfig.Topics["BenchmarkTest"].ReadQueueNums != 1024 {
			t.Errorf("%+v", rb.TopicConfig)
		}
	})
}

// A NameServer picks the route encoding by the request's version, as 4.9.4's does.
func TestRouteEncodingFollowsRequestVersion(t *testing.T) {
	tests := []struct {
		name     string
		version  int32
		standard bool
		want     bool
	}{
		{"a 4.9.4 client gets standard JSON", 401, false, true},
		{"a newer client gets standard JSON", 433, false, true},
		{"rocketmq-client-go (317) gets bare ids", 317, false, false},
		{"an old client asking for standard JSON gets it", 317, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := RouteInfoRequest{Topic: "T", AcceptStandardJSONOnly: tt.standard}
			if got := h.StandardJSON(tt.version); got != tt.want {
				t.Errorf("StandardJSON(%d) = %v", tt.version, got)
			}
		})
	}
}

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file\n got %s\nwant %s", name, got, want)
	}
}

// Bodies the recordings do not hold, pinned by golden files checked by hand against the
// Java classes and fastjson 1.2.69.
func TestBodiesMatchGoldenFiles(t *testing.T) {
	route := TopicRouteData{
		Brokers: []BrokerData{
			{Addrs: map[int64]string{1: "10.0.0.2:10911", 0: "10.0.0.1:10911"}, BrokerName: "broker-a", Cluster: "c1"},
			{Addrs: map[int64]string{0: "10.0.0.3:10911"}, BrokerName: "broker-b", Cluster: "c1"},
		},
		FilterServers:  map[string][]string{"10.0.0.3:10911": {"10.0.0.3:30000"}, "10.0.0.1:10911": {}},
		OrderTopicConf: "broker-a:4;broker-b:4 ü/\u2028",
		Queues:         []QueueData{{BrokerName: "broker-a", Perm: 6, ReadQueueNums: 4, WriteQueueNums: 4}},
	}
	mq := func(topic string, id int32) MessageQueue {
		return MessageQueue{BrokerName: "broker-a", QueueID: id, Topic: topic}
	}
	offsets := QueueTable[int64]{mq("T", 0): 10, mq("T", 1): 11, mq("T", 2): 12, mq("T", 3): 13}
	tests := []struct {
		file string
		body []byte
	}{
		{"route_default.json", route.Encode()},
		{"route_standard.json", route.EncodeStandard()},
		{"reset_offset.json", (&ResetOffsetBody{OffsetTable: offsets}).Encode()},
		{"consumer_status.json", (&ConsumerStatusBody{
			ConsumerTable:     map[string]QueueTable[int64]{"10.0.0.9@1": {mq("T", 0): 10}},
			MessageQueueTable: offsets,
		}).Encode()},
		{"consume_directly.json", (&ConsumeMessageDirectlyResult{AutoCommit: true, ConsumeResult: CRSuccess,
			Remark: "ok", SpentTimeMills: 3}).Encode()},
		{"running_info.json", (&ConsumerRunningInfo{
			MQTable:     QueueTable[ProcessQueueInfo]{mq("T", 1): {CommitOffset: 5}, mq("A", 0): {Locked: true}},
			Properties:  map[string]string{"b": "2", "a": "1"},
			StatusTable: map[string]ConsumeStatus{"T": {PullRT: 1.5, PullTPS: 12345678.9, ConsumeOKTPS: 0.0001}},
			Subscriptions: []SubscriptionData{{Topic: "T", SubString: "*", ExpressionType: "TAG"},
				{Topic: "%RETRY%g", SubString: "*", ExpressionType: "TAG"}},
		}).Encode()},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) { goldenFile(t, tt.file, tt.body) })
	}
}

// What the golden files hold, said in code: the facts a reader would check by hand.
func TestBodyEncodingDetails(t *testing.T) {
	route := TopicRouteData{OrderTopicConf: "a/ü\u2028", Brokers: []BrokerData{{Addrs: map[int64]string{1: "x", 0: "y"}}}}
	def, std := string(route.Encode()), string(route.EncodeStandard())
	for _, tt := range []struct {
		name, doc, want string
	}{
		{"default style leaves ids bare and in numeric order", def, `{0:"y",1:"x"}`},
		{"standard style quotes ids", std, `{"0":"y","1":"x"}`},
		{"default style writes UTF-8 and escapes U+2028 only", def, `"a/ü\u2028"`},
		{"standard style escapes '/' and non-ASCII", std, `"a\/\u00FC\u2028"`},
		{"nil collections are written empty", def, `"filterServerTable":{}`},
		{"a queue key is an object", string((&ResetOffsetBody{OffsetTable: QueueTable[int64]{{Topic: "T"}: 7}}).Encode()),
			`{"offsetTable":{{"brokerName":"","queueId":0,"topic":"T"}:7}}`},
		{"a null offset table is omitted", string((&ResetOffsetBody{}).Encode()), `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.doc, tt.want) {
				t.Errorf("%s does not contain %s", tt.doc, tt.want)
			}
		})
	}
}

// Queues in a Java HashMap iterate by bucket of MessageQueue.hashCode; TreeMaps by
// compareTo.
func TestQueueTableOrder(t *testing.T) {
	q := func(topic, broker string, id int32) MessageQueue {
		return MessageQueue{BrokerName: broker, QueueID: id, Topic: topic}
	}
	// MessageQueue("T", "b", 0).hashCode() = 31*(31*(31+"b".hashCode())+0)+"T".hashCode()
	if got, want := q("T", "b", 0).javaHash(), uint32(31*(31*(31+98)+0)+84); got != want {
		t.Errorf("javaHash = %d, want %d", got, want)
	}
	table := QueueTable[int]{q("B", "b", 0): 0, q("A", "b", 1): 0, q("A", "a", 2): 0, q("A", "a", 1): 0}
	tree := sortedQueues(table, true)
	want := []MessageQueue{q("A", "a", 1), q("A", "a", 2), q("A", "b", 1), q("B", "b", 0)}
	if !reflect.DeepEqual(tree, want) {
		t.Errorf("TreeMap order %v, want %v", tree, want)
	}
	hashed := sortedQueues(table, false)
	for i := 1; i < len(hashed); i++ {
		prev, cur := hashed[i-1].javaHash(), hashed[i].javaHash()
		if (prev^prev>>16)&15 > (cur^cur>>16)&15 {
			t.Errorf("HashMap order %v is not by bucket", hashed)
		}
	}
}

func TestDecodeRejectsMalformedBodies(t *testing.T) {
	tests := []struct {
		name string
		body string
		text string
	}{
		{"empty body", ``, "unexpected end"},
		{"unterminated object", `{"brokerDatas":[`, "unexpected end"},
		{"a broker id that is not a number", `{"brokerDatas":[{"brokerAddrs":{x:"a"}}]}`, "brokerAddrs"},
		{"trailing garbage", `{} x`, "trailing data"},
		{"queues of the wrong type", `{"queueDatas":{}}`, "queueDatas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r TopicRouteData
			err := r.Decode([]byte(tt.body))
			var be *BodyError
			if err == nil || !errors.As(err, &be) || be.Body != "TopicRouteData" {
				t.Fatalf("error %v is not a *BodyError", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
		})
	}
}
