package namesrv

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

var fuzzedCodes = []remoting.RequestCode{
	remoting.RegisterBroker, remoting.UnregisterBroker, remoting.GetRouteInfoByTopic,
	remoting.GetBrokerClusterInfo, remoting.GetAllTopicListFromNameServer,
	remoting.DeleteTopicInNameServer, remoting.GetTopicsByCluster, remoting.GetKVConfig,
	remoting.PutKVConfig, remoting.DeleteKVConfig, remoting.GetKVListByNamespace,
}

// encodeExt and decodeExt turn extFields into fuzzer bytes: "key=value" lines.
func encodeExt(ext remoting.ExtFields) []byte {
	var b []byte
	for _, f := range ext {
		b = append(append(append(append(b, f.Key...), '='), f.Value...), '\n')
	}
	return b
}

func decodeExt(b []byte) remoting.ExtFields {
	var ext remoting.ExtFields
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte("="))
		ext = append(ext, remoting.Field{Key: string(k), Value: string(v)})
	}
	return ext
}

func codeIndex(code int32) uint8 {
	for i, c := range fuzzedCodes {
		if int32(c) == code {
			return uint8(i)
		}
	}
	return 0
}

// FuzzHandlers feeds random headers and bodies to every handler: none may panic, every
// answer must encode, and the tables must stay readable.
func FuzzHandlers(f *testing.F) {
	for _, fr := range recorded.MustLoad(f) {
		if fr.Peer != "namesrv" || !fr.FromClient() {
			continue
		}
		cmd, err := remoting.DecodeFrame(fr.Bytes, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(codeIndex(cmd.Code), cmd.Version, encodeExt(cmd.Ext), cmd.Body)
	}
	compressed := masterA
	compressed.compressed = true
	for _, b := range []broker{masterA, slaveA, masterB, compressed} {
		req := b.register()
		frame, _ := req.AppendFrame(nil)
		cmd, _ := remoting.DecodeFrame(frame, 0)
		f.Add(codeIndex(cmd.Code), cmd.Version, encodeExt(cmd.Ext), cmd.Body)
	}
	f.Add(uint8(2), int32(317), []byte("topic=TBW102\nacceptStandardJsonOnly=TRUE"), []byte(nil))
	f.Add(uint8(5), int32(401), []byte("topic=orders\nclusterName=DefaultCluster"), []byte(nil))
	f.Add(uint8(6), int32(401), []byte("cluster=DefaultCluster"), []byte(nil))

	cfg := Config{Logger: quiet}
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, version int32, ext, body []byte) {
		// A fresh table per input, holding one registered broker, keeps every run
		// deterministic (coverage that depends on earlier inputs defeats minimization).
		s := &Server{cfg: cfg, log: quiet, routes: newRouteTable(quiet)}
		s.routes.register(registration{cluster: "DefaultCluster", addr: masterA.addr, name: masterA.name,
			topics: &remoting.TopicConfigWrapper{Topics: map[string]remoting.TopicConfig{"orders": orders}}})
		handlers := map[remoting.RequestCode]netpoll.Handler{
			remoting.RegisterBroker: s.registerBroker, remoting.UnregisterBroker: s.unregisterBroker,
			remoting.GetRouteInfoByTopic: s.routeInfo, remoting.GetBrokerClusterInfo: s.clusterInfo,
			remoting.GetAllTopicListFromNameServer: s.allTopics, remoting.DeleteTopicInNameServer: s.deleteTopic,
			remoting.GetTopicsByCluster: s.topicsByCluster, remoting.GetKVConfig: s.kvConfig,
			remoting.PutKVConfig: s.putKV, remoting.DeleteKVConfig: s.deleteKV, remoting.GetKVListByNamespace: s.kvList,
		}
		code := fuzzedCodes[int(which)%len(fuzzedCodes)]
		req := &remoting.Command{Code: int32(code), Version: version, Ext: decodeExt(ext), Body: body}
		resp := handlers[code](context.Background(), nil, req)
		if resp == nil {
			t.Fatalf("%s answered nothing", code)
		}
		if !resp.IsResponse() {
			t.Fatalf("%s answered a request: %v", code, resp)
		}
		if _, err := resp.AppendFrame(nil); err != nil {
			t.Fatalf("%s answer does not encode: %v", code, err)
		}
		for _, topic := range s.routes.allTopics() {
			if r := s.routes.route(topic); r != nil {
				r.Encode()
				r.EncodeStandard()
			}
		}
		s.routes.clusterInfo().Encode()
	})
}

// TestServerKeepsServingAfterMalformedRequests sends random headers and bodies for every
// code, and a malformed frame, then checks that registrations and routes still work.
func TestServerKeepsServingAfterMalformedRequests(t *testing.T) {
	s := start(t, Config{})
	cl := newClient(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int) []byte {
		b := make([]byte, rnd.IntN(n))
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	keys := []string{"topic", "brokerName", "brokerAddr", "clusterName", "brokerId", "compressed",
		"bodyCrc32", "haServerAddr", "cluster", "namespace", "key", "acceptStandardJsonOnly"}
	for i := range 500 {
		code := fuzzedCodes[i%len(fuzzedCodes)]
		req := &remoting.Command{Code: int32(code), Version: int32(rnd.IntN(500))}
		for range rnd.IntN(8) {
			req.Ext.Set(keys[rnd.IntN(len(keys))], string(randBytes(12)))
		}
		req.Body = randBytes(64)
		resp := call(t, cl, s.Addr(), req)
		if resp.Code == int32(remoting.SystemError) && bytes.HasPrefix([]byte(resp.Remark), []byte("handler panic")) {
			t.Fatalf("%s panicked: %s", code, resp.Remark)
		}
	}
	raw := dialRaw(t, s.Addr())
	raw.send([]byte{0, 0, 0, 8, 9, 0, 0, 1, 0, 0, 0, 0}) // serialize type 9 does not exist

	call(t, cl, s.Addr(), masterA.register())
	if routeOf(t, cl, s.Addr(), "orders") == nil {
		t.Fatal("the server stopped routing after malformed requests")
	}
}
