package remoting

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
)

type headerCodec interface {
	HeaderEncoder
	HeaderDecoder
}

// requestHeader returns a fresh typed header for a request code, nil for codes without one.
func requestHeader(code RequestCode) headerCodec {
	switch code {
	case SendMessage:
		return new(SendRequest)
	case SendMessageV2, SendBatchMessage:
		return new(SendRequestV2)
	case PullMessage:
		return new(PullRequest)
	case QueryConsumerOffset:
		return new(QueryConsumerOffsetRequest)
	case UpdateConsumerOffset:
		return new(UpdateConsumerOffsetRequest)
	case UpdateAndCreateTopic:
		return new(CreateTopicRequest)
	case SearchOffsetByTimestamp:
		return new(SearchOffsetRequest)
	case GetMaxOffset:
		return new(MaxOffsetRequest)
	case GetMinOffset:
		return new(MinOffsetRequest)
	case UnregisterClient:
		return new(UnregisterClientRequest)
	case ConsumerSendMessageBack:
		return new(ConsumerSendMsgBackRequest)
	case EndTransaction:
		return new(EndTransactionRequest)
	case GetConsumerListByGroup:
		return new(ConsumerListRequest)
	case CheckTransactionState:
		return new(CheckTransactionStateRequest)
	case NotifyConsumerIDsChanged:
		return new(NotifyConsumerIDsChangedRequest)
	case RegisterBroker:
		return new(RegisterBrokerRequest)
	case UnregisterBroker:
		return new(UnregisterBrokerRequest)
	case GetRouteInfoByTopic:
		return new(RouteInfoRequest)
	case GetConsumerConnectionList:
		return new(ConsumerConnectionListRequest)
	case ResetConsumerClientOffset:
		return new(ResetOffsetRequest)
	case GetConsumerStatusFromClient:
		return new(ConsumerStatusRequest)
	case GetConsumerRunningInfo:
		return new(ConsumerRunningInfoRequest)
	case ConsumeMessageDirectly:
		return new(ConsumeMessageDirectlyRequest)
	}
	return nil
}

// responseHeader returns the typed header Java attaches to the answer to a request code.
func responseHeader(req RequestCode, c *Command) headerCodec {
	switch req {
	case SendMessage, SendMessageV2, SendBatchMessage:
		if c.ResponseCode() == Success {
			return new(SendResponse)
		}
	case PullMessage:
		if len(c.Ext) > 0 {
			return new(PullResponse)
		}
		if c.KeepEmptyExt {
			return new(EmptyHeader)
		}
	case QueryConsumerOffset:
		if c.ResponseCode() == Success {
			return new(QueryConsumerOffsetResponse)
		}
	case GetMaxOffset:
		return new(MaxOffsetResponse)
	case GetMinOffset:
		return new(MinOffsetResponse)
	case SearchOffsetByTimestamp:
		return new(SearchOffsetResponse)
	case UpdateConsumerOffset, UnregisterClient, GetConsumerListByGroup:
		return new(EmptyHeader)
	case RegisterBroker:
		return new(RegisterBrokerResponse)
	}
	return nil
}

// requestsOf pairs each recorded response with its request: same scenario and peer,
// opposite direction, same opaque. Frames are in capture order per connection only (a
// response may be listed before its request), and opaques repeat across connections, so
// the nearest request before the response wins, else the nearest after it.
func requestsOf(frames []recorded.Frame) map[string]*recorded.Frame {
	type key struct {
		scenario, peer, dir string
		opaque              int32
	}
	requests := map[key][]int{}
	for i, f := range frames {
		if !f.Response {
			k := key{f.Scenario, f.Peer, f.Direction, f.Opaque}
			requests[k] = append(requests[k], i)
		}
	}
	out := map[string]*recorded.Frame{}
	for i, f := range frames {
		if !f.Response {
			continue
		}
		dir := "client->server"
		if f.Direction == dir {
			dir = "server->client"
		}
		best := -1
		for _, j := range requests[key{f.Scenario, f.Peer, dir, f.Opaque}] {
			if j < i || best < 0 || best > i {
				best = j
			}
			if j > i {
				break
			}
		}
		if best >= 0 {
			out[f.File] = &frames[best]
		}
	}
	return out
}

// headerKeys returns the extFields keys h writes.
func headerKeys(h HeaderEncoder) map[string]bool {
	var w FieldWriter
	h.EncodeFields(&w)
	keys := map[string]bool{}
	for _, e := range w.entries {
		keys[e.key] = true
	}
	return keys
}

// A command Java 4.9.4 wrote, rebuilt from its typed header (plus the extFields no header
// class declares, such as ReqT or an ACL signature), encodes to the very bytes recorded.
func TestRecordedHeadersReencodeAsJava(t *testing.T) {
	frames := recorded.MustLoad(t)
	reqOf := requestsOf(frames)
	tested := map[string]int{}
	for _, f := range frames {
		c, err := DecodeFrame(f.Bytes, 0)
		if err != nil {
			t.Fatalf("%s: %v", f.File, err)
		}
		var h headerCodec
		if c.IsResponse() {
			if req, ok := reqOf[f.File]; ok {
				h = responseHeader(RequestCode(req.Code), c)
			}
		} else {
			h = requestHeader(c.RequestCode())
		}
		if h == nil || c.Language != LanguageJava {
			continue
		}
		name := reflect.TypeOf(h).Elem().Name()
		t.Run(f.File+"/"+name, func(t *testing.T) {
			if err := h.DecodeFields(c.Ext); err != nil {
				t.Fatalf("decode: %v", err)
			}
			known := headerKeys(h)
			var rest ExtFields
			for _, fl := range c.Ext {
				if !known[fl.Key] {
					rest = append(rest, fl)
				}
			}
			rebuilt := &Command{Code: c.Code, Language: c.Language, Version: c.Version, Opaque: c.Opaque,
				Flag: c.Flag, Remark: c.Remark, Header: h, Ext: rest, Body: c.Body, Serialize: c.Serialize}
			out, err := rebuilt.AppendFrame(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, f.Bytes) {
				t.Errorf("typed header re-encodes differently\n got %q\nwant %q", out, f.Bytes)
			}
		})
		tested[name]++
	}
	for _, want := range []string{"SendRequestV2", "SendResponse", "PullRequest", "PullResponse",
		"QueryConsumerOffsetRequest", "QueryConsumerOffsetResponse", "UpdateConsumerOffsetRequest",
		"SearchOffsetRequest", "SearchOffsetResponse", "MaxOffsetRequest", "MaxOffsetResponse",
		"MinOffsetRequest", "MinOffsetResponse", "UnregisterClientRequest", "ConsumerSendMsgBackRequest",
		"EndTransactionRequest", "ConsumerListRequest", "CheckTransactionStateRequest",
		"NotifyConsumerIDsChangedRequest", "RegisterBrokerRequest", "RouteInfoRequest",
		"ConsumerConnectionListRequest", "ConsumerRunningInfoRequest", "EmptyHeader"} {
		if tested[want] == 0 {
			t.Errorf("no recorded Java frame exercised %s", want)
		}
	}
}

// rocketmq-client-go orders its fields its own way and sends some Java leaves null, but its
// headers decode to the same values.
func TestRecordedGoHeadersDecode(t *testing.T) {
	frames := recorded.MustLoad(t)
	for _, f := range frames {
		if !strings.HasPrefix(f.Scenario, "go-") || f.Response {
			continue
		}
		c, err := DecodeFrame(f.Bytes, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h := requestHeader(c.RequestCode()); h != nil {
			if err := h.DecodeFields(c.Ext); err != nil {
				t.Errorf("%s: %v", f.File, err)
			}
		}
	}

	var v1 SendRequest
	mustDecode(t, frames, "446-go-send-json-req10.bin", &v1)
	want := SendRequest{ProducerGroup: "rec_go_pg", Topic: "RecTopic", DefaultTopic: "TBW102",
		DefaultTopicQueueNums: 4, QueueID: 1, BornTimestamp: 1795566872414,
		Properties:        "KEYS\x01go-1 go-2\x02color\x01green\x02UNIQ_KEY\x01C00002023587000000007bb83dc00001\x02TAGS\x01TagA\x02",
		MaxReconsumeTimes: Some[int32](0)}
	if v1 != want {
		t.Errorf("go send v1\n got %+v\nwant %+v", v1, want)
	}
	var batch SendRequestV2
	mustDecode(t, frames, "447-go-send-json-req320.bin", &batch)
	if !batch.Batch || batch.Properties != "" || batch.MaxReconsumeTimes != Some[int32](0) {
		t.Errorf("go batch: %+v", batch)
	}
}

func mustDecode(t *testing.T, frames []recorded.Frame, file string, h HeaderDecoder) *Command {
	t.Helper()
	c, err := DecodeFrame(recorded.Find(t, frames, file).Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.DecodeFields(c.Ext); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

func TestRecordedHeaderValues(t *testing.T) {
	frames := recorded.MustLoad(t)
	tests := []struct {
		file string
		got  headerCodec
		want any
	}{
		{"036-pull-json-req11.bin", new(PullRequest), &PullRequest{ConsumerGroup: "rec_pull_cg", Topic: "RecTopic",
			QueueID: 1, MaxMsgNums: 32, SysFlag: PullFlagSubscription, SuspendTimeoutMillis: 20000,
			Subscription: "*", ExpressionType: "TAG"}},
		{"184-push-json-req11.bin", new(PullRequest), &PullRequest{ConsumerGroup: "rec_push_cg", Topic: "RecTopic",
			QueueOffset: 5, MaxMsgNums: 32, SysFlag: PullFlagCommitOffset | PullFlagSuspend, CommitOffset: 5,
			SuspendTimeoutMillis: 15000, SubVersion: 1795565724149, ExpressionType: "TAG"}},
		{"132-pull-rocketmq-resp0.bin", new(PullResponse), &PullResponse{NextBeginOffset: 4, MaxOffset: 4}},
		{"022-send-json-resp0.bin", new(SendResponse), &SendResponse{
			MsgID:   "7F00000100002AA900000000000002FE,7F00000100002AA900000000000003F0,7F00000100002AA900000000000004E2,7F00000100002AA900000000000005D4",
			QueueID: 2, Region: "DefaultRegion", TraceOn: "true"}},
		{"012-send-json-req310.bin", new(SendRequestV2), &SendRequestV2{ProducerGroup: "rec_pg", Topic: "RecTopic",
			DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1, SysFlag: 769, BornTimestamp: 1795565703993,
			Properties: "KEYS\x01big-1\x02UNIQ_KEY\x01FD00000000000000000000000000000218CA5FFD2B277BA66B340002\x02WAIT\x01true\x02TAGS\x01TagZ"}},
		{"187-push-json-req36.bin", new(ConsumerSendMsgBackRequest), &ConsumerSendMsgBackRequest{Offset: 2977,
			Group: "rec_push_cg", OriginMsgID: "FD00000000000000000000000000000219A35FFD2B277BA692540000",
			OriginTopic: "RecTopic", MaxReconsumeTimes: Some[int32](16)}},
		{"404-transaction-json-req37.bin", new(EndTransactionRequest), &EndTransactionRequest{ProducerGroup: "rec_tx_pg",
			TranStateTableOffset: 1, CommitLogOffset: 7044, CommitOrRollback: TransactionCommitType, FromTransactionCheck: true,
			MsgID: "FD0000000000000000000000000000021B675FFD2B277BA71F0B0000", TransactionID: "FD0000000000000000000000000000021B675FFD2B277BA71F0B0000"}},
		{"409-transaction-json-req39.bin", new(CheckTransactionStateRequest), &CheckTransactionStateRequest{
			TranStateTableOffset: 1, CommitLogOffset: 7044, MsgID: "FD0000000000000000000000000000021B675FFD2B277BA71F0B0000",
			TransactionID: "FD0000000000000000000000000000021B675FFD2B277BA71F0B0000", OffsetMsgID: "7F00000100002AA90000000000001B84"}},
		{"026-send-json-req103.bin", new(RegisterBrokerRequest), &RegisterBrokerRequest{BrokerName: "broker-tap",
			BrokerAddr: "127.0.0.1:10921", ClusterName: "DefaultCluster", HAServerAddr: "192.0.2.2:10922", BodyCRC32: 630194103}},
		{"292-push-json-req307.bin", new(ConsumerRunningInfoRequest), &ConsumerRunningInfoRequest{
			ConsumerGroup: "rec_push_cg", ClientID: "192.0.2.2@rec2"}},
		{"047-pull-json-req35.bin", new(UnregisterClientRequest), &UnregisterClientRequest{
			ClientID: "192.0.2.2@rec@STREAM", ConsumerGroup: "rec_pull_cg"}},
		{"035-pull-json-req29.bin", new(SearchOffsetRequest), &SearchOffsetRequest{Topic: "RecTopic", QueueID: 1,
			Timestamp: 1795562108449}},
		{"049-pull-json-resp0.bin", new(MaxOffsetResponse), &MaxOffsetResponse{Offset: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			mustDecode(t, frames, tt.file, tt.got)
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}

func ext(kv ...string) ExtFields {
	var e ExtFields
	for i := 0; i+1 < len(kv); i += 2 {
		e = append(e, Field{kv[i], kv[i+1]})
	}
	return e
}

func TestHeaderDecodeErrors(t *testing.T) {
	pull := func(drop string, set ...string) ExtFields {
		e := ext("consumerGroup", "g", "topic", "T", "queueId", "1", "queueOffset", "0", "maxMsgNums", "32",
			"sysFlag", "2", "commitOffset", "0", "suspendTimeoutMillis", "15000", "subVersion", "0")
		e.Delete(drop)
		for i := 0; i+1 < len(set); i += 2 {
			e.Set(set[i], set[i+1])
		}
		return e
	}
	tests := []struct {
		name string
		h    HeaderDecoder
		ext  ExtFields
		want *HeaderError // nil: decodes
	}{
		{"complete pull request decodes", new(PullRequest), pull(""), nil},
		{"pull without queueId names the field", new(PullRequest), pull("queueId"),
			&HeaderError{"PullMessageRequestHeader", "queueId", "missing"}},
		{"pull without subscription is fine: it is nullable", new(PullRequest), pull("subscription"), nil},
		{"the first missing field in declaration order is reported", new(PullRequest), ext("topic", "T"),
			&HeaderError{"PullMessageRequestHeader", "consumerGroup", "missing"}},
		{"a non-numeric queue id is refused", new(PullRequest), pull("", "queueId", "one"),
			&HeaderError{"PullMessageRequestHeader", "queueId", `"one" is not a 32-bit integer`}},
		{"a queue id beyond int32 is refused", new(PullRequest), pull("", "queueId", "2147483648"),
			&HeaderError{"PullMessageRequestHeader", "queueId", `"2147483648" is not a 32-bit integer`}},
		{"a malformed value wins over a missing field", new(PullRequest), ext("queueOffset", "x"),
			&HeaderError{"PullMessageRequestHeader", "queueOffset", `"x" is not a 64-bit integer`}},
		{"an empty number is refused", new(SendResponse), ext("msgId", "m", "queueId", "", "queueOffset", "1"),
			&HeaderError{"SendMessageResponseHeader", "queueId", `"" is not a 32-bit integer`}},
		{"send v2 without g", new(SendRequestV2), ext("a", "pg", "b", "T", "c", "TBW102", "d", "4", "e", "0", "f", "0", "h", "0"),
			&HeaderError{"SendMessageRequestHeaderV2", "g", "missing"}},
		{"a boolean reads like Boolean.parseBoolean", new(ConsumerRunningInfoRequest),
			ext("consumerGroup", "g", "clientId", "c", "jstackEnable", "yes"), nil},
		{"end transaction with an unknown verdict", new(EndTransactionRequest),
			ext("producerGroup", "p", "tranStateTableOffset", "1", "commitLogOffset", "2", "commitOrRollback", "4", "msgId", "m"),
			&HeaderError{"EndTransactionRequestHeader", "commitOrRollback", "4 is not 0, 8 or 12"}},
		{"create topic with an unknown filter type", new(CreateTopicRequest),
			ext("topic", "T", "defaultTopic", "D", "readQueueNums", "8", "writeQueueNums", "8", "perm", "6",
				"topicFilterType", "ANY", "order", "false"),
			&HeaderError{"CreateTopicRequestHeader", "topicFilterType", `"ANY" is not SINGLE_TAG or MULTI_TAG`}},
		{"offset response without offset", new(QueryConsumerOffsetResponse), nil,
			&HeaderError{"QueryConsumerOffsetResponseHeader", "offset", "missing"}},
		{"search offset without timestamp", new(SearchOffsetRequest), ext("topic", "T", "queueId", "0"),
			&HeaderError{"SearchOffsetRequestHeader", "timestamp", "missing"}},
		{"register broker response needs nothing", new(RegisterBrokerResponse), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.DecodeFields(tt.ext)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var he *HeaderError
			if !errors.As(err, &he) || !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error %v is not a *HeaderError", err)
			}
			if *he != *tt.want {
				t.Errorf("error %+v, want %+v", *he, *tt.want)
			}
			if !strings.Contains(err.Error(), tt.want.Header+"."+tt.want.Field) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

func TestSendRequestVersionsCarryTheSameFields(t *testing.T) {
	v1 := SendRequest{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 3, SysFlag: 1, BornTimestamp: 1700000000000, Flag: 5, Properties: "a\x01b",
		ReconsumeTimes: 2, UnitMode: true, MaxReconsumeTimes: Some[int32](16), Batch: true}
	v2 := v1.V2()
	c := &Command{Code: int32(SendMessageV2), Header: v2, Serialize: RocketMQ}
	frame, err := c.AppendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeFrame(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := "a b c d e f g h i j k l m"
	var keys []string
	for _, f := range back.Ext {
		keys = append(keys, f.Key)
	}
	if got := strings.Join(keys, " "); got != wantKeys {
		t.Errorf("V2 keys %q, want %q", got, wantKeys)
	}
	var decoded SendRequestV2
	if err := decoded.DecodeFields(back.Ext); err != nil {
		t.Fatal(err)
	}
	if *decoded.V1() != v1 {
		t.Errorf("round trip through V2\n got %+v\nwant %+v", *decoded.V1(), v1)
	}

	v1.MaxReconsumeTimes = Optional[int32]{}
	if keys := headerKeys(&v1); keys["maxReconsumeTimes"] {
		t.Error("a null maxReconsumeTimes is written")
	}
	if keys := headerKeys(v1.V2()); keys["l"] {
		t.Error("a null l is written")
	}
}

func TestDecodeFieldsResetsTheHeader(t *testing.T) {
	h := SendResponse{TransactionID: "stale", Region: "stale"}
	if err := h.DecodeFields(ext("msgId", "m", "queueId", "1", "queueOffset", "2")); err != nil {
		t.Fatal(err)
	}
	if h != (SendResponse{MsgID: "m", QueueID: 1, QueueOffset: 2}) {
		t.Errorf("stale fields survive: %+v", h)
	}
}

func TestHeaderDecodeDoesNotAllocate(t *testing.T) {
	frames := recorded.MustLoad(t)
	for _, tt := range []struct {
		file string
		h    HeaderDecoder
	}{
		{"114-pull-rocketmq-req11.bin", new(PullRequest)},
		{"086-send-rocketmq-req310.bin", new(SendRequestV2)},
		{"095-send-rocketmq-resp0.bin", new(SendResponse)},
		{"132-pull-rocketmq-resp0.bin", new(PullResponse)},
	} {
		c := mustDecode(t, frames, tt.file, tt.h)
		if n := testing.AllocsPerRun(100, func() { _ = tt.h.DecodeFields(c.Ext) }); n != 0 {
			t.Errorf("%T.DecodeFields allocates %v times", tt.h, n)
		}
	}
}
