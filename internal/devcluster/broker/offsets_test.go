package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqgate/mqgate/remoting"
)

func (tb *testBroker) queryOffset(group, topic string, queue int32) (*remoting.Command, int64) {
	tb.t.Helper()
	resp := tb.invoke(request(remoting.QueryConsumerOffset,
		&remoting.QueryConsumerOffsetRequest{ConsumerGroup: group, Topic: topic, QueueID: queue}))
	var h remoting.QueryConsumerOffsetResponse
	if resp.Code == 0 {
		if err := h.DecodeFields(resp.Ext); err != nil {
			tb.t.Fatal(err)
		}
	}
	return resp, h.Offset
}

func TestConsumerOffsetsAreQueriedAndUpdated(t *testing.T) {
	tb := startBroker(t, nil)
	tb.createTopic("O", 2)
	tb.send("O", 0, "m", "")
	// No offset yet, but the queue starts in memory at 0: Java answers 0 (recording 052).
	if resp, off := tb.queryOffset("o_cg", "O", 0); resp.Code != 0 || off != 0 {
		t.Fatalf("query of a new group: %d %q offset %d", resp.Code, resp.Remark, off)
	}
	upd := request(remoting.UpdateConsumerOffset, &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "o_cg",
		Topic: "O", QueueID: 0, CommitOffset: 1})
	if resp := tb.invoke(upd); resp.Code != 0 || !resp.KeepEmptyExt {
		t.Fatalf("update: %d %q", resp.Code, resp.Remark)
	}
	if _, off := tb.queryOffset("o_cg", "O", 0); off != 1 {
		t.Errorf("offset %d after update, want 1", off)
	}
	// The oneway update clients send every 5 s.
	upd = request(remoting.UpdateConsumerOffset, &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "o_cg",
		Topic: "O", QueueID: 1, CommitOffset: 5})
	if err := tb.cl.InvokeOneway(context.Background(), tb.addr, upd); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the oneway update", 5e9, func() bool {
		_, off := tb.queryOffset("o_cg", "O", 1)
		return off == 5
	})
}

func TestConsumerOffsetsArePersistedInJavasFormat(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, func(c *Config) { c.DataDir = dir })
	tb.b.offsets.commit("g1", "T", 0, 12)
	tb.b.offsets.commit("g1", "T", 1, 3)
	tb.b.offsets.commit("g2", "%RETRY%g2", 0, 0)
	if err := tb.b.offsets.persist(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "consumerOffset.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"offsetTable":{"%RETRY%g2@g2":{0:0},"T@g1":{0:12,1:3}}}`
	if string(data) != want {
		t.Errorf("consumerOffset.json\n got %s\nwant %s", data, want)
	}
	m, err := newOffsetManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.query("g1", "T", 0) != 12 || m.query("g1", "T", 1) != 3 || m.query("g2", "%RETRY%g2", 0) != 0 || m.query("g3", "T", 0) != -1 {
		t.Errorf("reloaded table %v", m.table)
	}
	// Java's pretty-printed form reads too.
	pretty := "{\n\t\"offsetTable\":{\n\t\t\"T@g1\":{0:12,1:3\n\t\t}\n\t}\n}"
	m = &offsetManager{table: map[offsetKey]map[int32]int64{}}
	if err := m.decode([]byte(pretty)); err != nil || m.query("g1", "T", 1) != 3 {
		t.Errorf("pretty form: %v %v", err, m.table)
	}
}
