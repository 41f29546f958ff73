package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/recorded"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestDelayedSendsAreStoredInTheScheduleTopicAsJavasCommitLogDoes(t *testing.T) {
	tb, _ := clockedBroker(t, nil)
	tb.createTopic("D", 4)
	half := sendRequest("D", 1, []byte("half"), props("DELAY", "2", "TRAN_MSG", "true", "PGROUP", "pg"))
	half.Header.(*remoting.SendRequestV2).SysFlag = message.SysFlagTransactionPrepared
	for _, tc := range []struct {
		name      string
		req       *remoting.Command
		code      remoting.ResponseCode
		remark    string
		topic     string
		queue     int32
		wantDelay string // DELAY as stored
		wantReal  string // REAL_TOPIC/REAL_QID, for a message moved
	}{
		{"level 3 goes to queue 2", sendRequest("D", 1, []byte("l3"), props("DELAY", "3")), remoting.Success, "",
			message.SystemTopicSchedule, 2, "3", "D/1"},
		{"a level above the highest is the highest", sendRequest("D", 1, []byte("l99"), props("DELAY", "99")),
			remoting.Success, "", message.SystemTopicSchedule, 17, "18", "D/1"},
		{"level 0 is no delay", sendRequest("D", 1, []byte("l0"), props("DELAY", "0")), remoting.Success, "", "D", 1, "0", "/"},
		{"a negative level is no delay", sendRequest("D", 1, []byte("l-1"), props("DELAY", "-1")), remoting.Success, "",
			"D", 1, "-1", "/"},
		// Java moves a half message to the half topic first, which the delay then moves
		// to the schedule topic: the delivery discards it as a [BUG].
		{"a half message with a delay goes to the schedule topic from the half topic", half, remoting.Success, "",
			message.SystemTopicSchedule, 1, "2", message.SystemTopicTransactionHalf + "/0"},
		{"a level that is not an int fails as Java's parseInt", sendRequest("D", 1, []byte("lx"), props("DELAY", "3x")),
			remoting.SystemError, numberFormatRemark("3x"), "", 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tb.invoke(tc.req)
			if resp.Code != int32(tc.code) || resp.Remark != tc.remark {
				t.Fatalf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			if tc.code != remoting.Success {
				if len(resp.Ext) != 0 {
					t.Errorf("an exception's answer has fields %v", resp.Ext)
				}
				return
			}
			if q := resp.Ext.Get("queueId"); q != "1" {
				t.Errorf("answered queue %s, want the one asked for", q)
			}
			msgs := tb.messagesIn(tc.topic, tc.queue)
			if len(msgs) == 0 {
				t.Fatalf("nothing in %s/%d", tc.topic, tc.queue)
			}
			m := msgs[len(msgs)-1]
			if got := m.Properties.Get("DELAY"); got != tc.wantDelay {
				t.Errorf("DELAY %q, want %q", got, tc.wantDelay)
			}
			if real := m.Properties.Get("REAL_TOPIC") + "/" + m.Properties.Get("REAL_QID"); real != tc.wantReal {
				t.Errorf("real queue %q, want %q", real, tc.wantReal)
			}
		})
	}
}

func TestDelayedMessagesAreDeliveredWhenDueAsJavaDeliversThem(t *testing.T) {
	dir := t.TempDir()
	tb, fake := clockedBroker(t, func(c *Config) { c.DataDir = dir })
	// Recording 011: delay level 2 (5s), delivered by Java with its properties as stored
	// in the schedule topic (recording 385).
	req, err := remoting.DecodeFrame(recorded.Find(t, recorded.MustLoad(t), "011-send-json-req310.bin").Bytes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if resp := tb.invoke(req); resp.Code != 0 {
		t.Fatalf("send: %d %s", resp.Code, resp.Remark)
	}
	stored := tb.messagesIn(message.SystemTopicSchedule, 1)
	if len(stored) != 1 {
		t.Fatalf("%d messages in the schedule queue", len(stored))
	}
	// The level's goroutine waits for the delivery time (and the check service ticks).
	if !fake.WaitForWaiters(2, 5*time.Second) {
		t.Fatal("the delay service does not wait for the message")
	}
	fake.Advance(5*time.Second - time.Millisecond)
	if n := len(tb.messagesIn("RecTopic", 0)); n != 0 {
		t.Fatalf("delivered %d messages before the time", n)
	}
	fake.Advance(time.Millisecond)
	waitFor(t, "the delivery", 5*time.Second, func() bool { return len(tb.messagesIn("RecTopic", 0)) == 1 })
	got := tb.messagesIn("RecTopic", 0)[0]
	want := props("REAL_TOPIC", "RecTopic", "KEYS", "delay-1", "UNIQ_KEY", "FD00000000000000000000000000000218CA5FFD2B277BA66B0D0001",
		"CLUSTER", "DefaultCluster", "DELAY", "2", "WAIT", "true", "TAGS", "TagD", "REAL_QID", "0")
	if p := got.Properties.Encode(); p != want {
		t.Errorf("delivered properties\n got %q\nJava %q", p, want)
	}
	if string(got.Body) != "delayed level 2" || got.BornTimestamp != stored[0].BornTimestamp || got.StoreHost != tb.b.host ||
		got.StoreTimestamp != stored[0].StoreTimestamp+5000 {
		t.Errorf("delivered %+v", got)
	}
	// The progress is kept in Java's format.
	waitFor(t, "delayOffset.json", 5*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "delayOffset.json"))
		return string(data) == `{"offsetTable":{2:1}}`
	})
}

func TestDelayProgressSurvivesARestartWithoutLossOrRedelivery(t *testing.T) {
	dir := t.TempDir()
	tb, fake := clockedBroker(t, func(c *Config) { c.DataDir = dir })
	tb.createTopic("R", 1)
	tb.send("R", 0, "first", props("DELAY", "3")) // due at +10s
	fake.Advance(5 * time.Second)
	tb.send("R", 0, "second", props("DELAY", "3")) // due at +15s
	fake.Advance(5 * time.Second)
	waitFor(t, "the first delivery", 5*time.Second, func() bool { return len(tb.messagesIn("R", 0)) == 1 })
	st := tb.store
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "delayOffset.json")); string(data) != `{"offsetTable":{3:1}}` {
		t.Fatalf("delayOffset.json = %s", data)
	}

	tb = restartClocked(t, st, fake, func(c *Config) { c.DataDir = dir })
	if !fake.WaitForWaiters(2, 5*time.Second) {
		t.Fatal("the restarted delay service does not wait for the second message")
	}
	fake.Advance(5 * time.Second)
	waitFor(t, "the second delivery", 5*time.Second, func() bool { return len(tb.messagesIn("R", 0)) == 2 })
	got := tb.messagesIn("R", 0)
	if string(got[0].Body) != "first" || string(got[1].Body) != "second" {
		t.Errorf("delivered %q and %q", got[0].Body, got[1].Body)
	}
	// A later send to the drained level is delivered too: the level wakes on arrival.
	tb.send("R", 0, "third", props("DELAY", "1"))
	if !fake.WaitForWaiters(2, 5*time.Second) {
		t.Fatal("the delay service does not wait for the third message")
	}
	fake.Advance(time.Second)
	waitFor(t, "the third delivery", 5*time.Second, func() bool { return len(tb.messagesIn("R", 0)) == 3 })
}

func TestDelayOffsetsAreReadInJavasFormatAndCorrected(t *testing.T) {
	dir := t.TempDir()
	tb, fake := clockedBroker(t, nil)
	tb.createTopic("C", 1)
	tb.send("C", 0, "one", props("DELAY", "1"))
	st := tb.store
	if err := tb.b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Java's pretty form, quoted keys, and an offset beyond the queue's end, which is
	// corrected to the max offset (correctDelayOffset): the message there stays pending.
	if err := os.WriteFile(filepath.Join(dir, "delayOffset.json"), []byte("{\n\t\"offsetTable\":{\n\t\t1:7,\"4\":0\n\t}\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tb = restartClocked(t, st, fake, func(c *Config) { c.DataDir = dir })
	if got := tb.b.schedule.offset(1); got != 1 {
		t.Errorf("level 1 offset %d, want it corrected to the max offset 1", got)
	}
	fake.Advance(time.Hour)
	if n := len(tb.messagesIn("C", 0)); n != 0 {
		t.Errorf("%d messages delivered again", n)
	}
	if err := os.WriteFile(filepath.Join(dir, "delayOffset.json"), []byte(`{"offsetTable":{x:1}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Store: st, DataDir: dir, Logger: quiet}); err == nil {
		t.Error("a broken delayOffset.json was accepted")
	}
}
