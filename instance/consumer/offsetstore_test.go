package consumer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/instance"
)

func TestOffsetTableIncreaseOnly(t *testing.T) {
	var tab offsetTable
	tab.init()
	mq := instanceMQ("T", 0)
	tab.update(mq, 10, true)
	tab.update(mq, 5, true)
	if off, _ := tab.readMemory(mq); off != 10 {
		t.Errorf("increase-only update lowered the offset to %d", off)
	}
	tab.update(mq, 5, false)
	if off, _ := tab.readMemory(mq); off != 5 {
		t.Errorf("plain update = %d, want 5", off)
	}
	if got := tab.table("Other"); len(got) != 0 {
		t.Errorf("table of another topic: %v", got)
	}
}

func TestLocalOffsetStoreRoundTripsAndReadsJava(t *testing.T) {
	dir := t.TempDir()
	s := newLocalOffsetStore(dir, "10.0.0.1@inst", "grp")
	mq0, mq1 := instanceMQ("T", 0), instanceMQ("T", 1)
	s.update(mq0, 7, false)
	s.update(mq1, 9, false)
	if err := s.persistAll(ctxFor(t, timeoutUnit), []instance.MessageQueue{mq0, mq1}, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "10.0.0.1@inst", "grp", "offsets.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"offsetTable":{{"brokerName":"broker-a","queueId":`) {
		t.Errorf("file is not in Java's OffsetSerializeWrapper form: %s", data)
	}
	info, _ := os.Stat(path)
	// Nothing changed: no write.
	if err := s.persistAll(ctxFor(t, timeoutUnit), []instance.MessageQueue{mq0, mq1}, false); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Stat(path); !again.ModTime().Equal(info.ModTime()) {
		t.Log("file rewritten without a change") // mtime granularity may hide it; not an error
	}
	s.update(mq0, 8, false)
	if err := s.persistAll(ctxFor(t, timeoutUnit), []instance.MessageQueue{mq0, mq1}, false); err != nil {
		t.Fatal(err)
	}
	if bak, err := os.ReadFile(path + ".bak"); err != nil || string(bak) != string(data) {
		t.Errorf("backup %q, %v; want the previous content", bak, err)
	}

	loaded := newLocalOffsetStore(dir, "10.0.0.1@inst", "grp")
	if err := loaded.load(); err != nil {
		t.Fatal(err)
	}
	if off, _ := loaded.readMemory(mq0); off != 8 {
		t.Errorf("loaded offset %d, want 8", off)
	}

	// What Java writes: pretty-printed fastjson with object keys.
	java := "{\n\t\"offsetTable\":{{\n\t\t\"brokerName\":\"broker-a\",\n\t\t\"queueId\":3,\n\t\t\"topic\":\"T\"\n\t}:42\n\t}\n}"
	if err := os.WriteFile(path, []byte(java), 0o644); err != nil {
		t.Fatal(err)
	}
	off, found, err := loaded.readStore(ctxFor(t, timeoutUnit), instanceMQ("T", 3))
	if err != nil || !found || off != 42 {
		t.Errorf("Java's file read as %d %v %v, want 42", off, found, err)
	}
	// A corrupt file falls back to the backup.
	if err := os.WriteFile(path, []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if off, found, err := loaded.readStore(ctxFor(t, timeoutUnit), mq0); err != nil || !found || off != 7 {
		t.Errorf("read with a corrupt file = %d %v %v, want the backup's 7", off, found, err)
	}
}

func TestSubscriptionsAndTagFilter(t *testing.T) {
	var s subscriptions
	s.init()
	if err := s.add("T", "TagA || TagB"); err != nil {
		t.Fatal(err)
	}
	if err := s.add("bad topic", "*"); err == nil {
		t.Error("a topic with a space was accepted")
	}
	s.freeze("g", "CLUSTERING", 1000)
	if err := s.add("U", "*"); err == nil {
		t.Error("subscribed after the start")
	}
	if got := s.topicList(); len(got) != 2 || got[0] != "%RETRY%g" || got[1] != "T" {
		t.Errorf("topics %v", got)
	}
	sub, _ := s.get("T")
	if sub.SubVersion != 1000 || sub.ExpressionType != "TAG" {
		t.Errorf("subscription %+v", sub)
	}
	s.bump("T", 1000)
	if v := s.version("T"); v != 1001 {
		t.Errorf("version after a bump at the same millisecond = %d, want 1001", v)
	}
	f := newTagFilter(&sub)
	for _, tc := range []struct {
		tags string
		want bool
	}{{"TagA", true}, {"TagB", true}, {"TagC", false}, {"", false}, {"TagA || TagB", false}} {
		m := msgsAt(0, 1)[0]
		if tc.tags != "" {
			m.SetTags(tc.tags)
		}
		if got := f.match(m); got != tc.want {
			t.Errorf("tags %q match = %v", tc.tags, got)
		}
	}
	all, _ := s.get("%RETRY%g")
	if !newTagFilter(&all).match(msgsAt(0, 1)[0]) {
		t.Error("a * subscription refused a message without tags")
	}
}

// A write whose directory sync failed may not survive a crash: persist says so, and the
// next persist writes the same offsets again rather than counting them as written.
func TestLocalOffsetStoreWritesAgainAfterAFailedDirectorySync(t *testing.T) {
	failing := errors.New("input/output error")
	var syncs []error
	saved := syncDir
	t.Cleanup(func() { syncDir = saved })
	syncDir = func(dir string) error {
		err := failing
		if len(syncs) > 0 {
			err = saved(dir)
		}
		syncs = append(syncs, err)
		return err
	}
	s := newLocalOffsetStore(t.TempDir(), "10.0.0.1@inst", "grp")
	mq := instanceMQ("T", 0)
	s.update(mq, 7, false)
	err := s.persist(ctxFor(t, timeoutUnit), mq)
	if !errors.Is(err, failing) || !strings.Contains(err.Error(), "syncing") {
		t.Fatalf("persist = %v, want the directory sync's error", err)
	}
	if err := s.persist(ctxFor(t, timeoutUnit), mq); err != nil {
		t.Fatal(err)
	}
	if len(syncs) != 2 {
		t.Fatalf("%d writes, want the offset written again after the failed sync", len(syncs))
	}
	if off, found, err := s.readStore(ctxFor(t, timeoutUnit), mq); err != nil || !found || off != 7 {
		t.Errorf("file holds %d %v %v, want 7", off, found, err)
	}
}
