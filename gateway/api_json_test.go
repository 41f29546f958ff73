package gateway

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// sameJSON fails t unless got is one JSON value equal to want's encoding/json encoding.
func sameJSON(t *testing.T, got []byte, want any) {
	t.Helper()
	wantBytes, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal(wantBytes, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("wrote %s\nencoding/json %s", got, wantBytes)
	}
}

func produceAnswerCases() []sendResult {
	return []sendResult{
		{MessageID: "7F0000010000", OffsetMessageID: "C0A8000100002A9F", Status: "SEND_OK",
			Queue: queueJSON{Topic: "T", Broker: "broker-a", QueueID: 3}, Offset: 42},
		{MessageID: "id", Status: "FLUSH_DISK_TIMEOUT", Queue: queueJSON{Topic: "%RETRY%g"}}, // no offset message id
		{MessageID: "a\"b\\c\n<&>\u2028é\x01", Status: "x\xffy", Queue: queueJSON{Topic: "t\t", Broker: "中", QueueID: math.MinInt32},
			Offset: math.MinInt64},
		{Offset: math.MaxInt64, Queue: queueJSON{QueueID: math.MaxInt32}},
	}
}

// TestProduceAnswersAsEncodingJSON: the produce answers, written by hand, are the JSON
// values encoding/json would write, with the Content-Type and Content-Length it had.
func TestProduceAnswersAsEncodingJSON(t *testing.T) {
	cases := produceAnswerCases()
	for _, r := range cases {
		sameJSON(t, appendSendResult(nil, &r), r)
	}
	batch := batchResult{Results: []batchItem{{sendResult: &cases[0]}, {Error: "rejected: \"no\"", Code: "rejected"},
		{sendResult: &cases[2]}, {}, {Code: "c"}, {sendResult: &cases[1], Error: "e"}}}
	sameJSON(t, appendBatchResult(nil, &batch), batch)
	sameJSON(t, appendBatchResult(nil, &batchResult{}), batchResult{})
	sameJSON(t, appendBatchResult(nil, &batchResult{Results: []batchItem{}}), batchResult{Results: []batchItem{}})

	// Through a server, as a client gets them: with a Content-Length (which net/http
	// counts itself for a short answer), not chunked.
	long := batchResult{}
	for range 64 {
		long.Results = append(long.Results, batchItem{sendResult: &cases[0]})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/batch" {
			writeBatchResult(w, 207, &long)
			return
		}
		writeSendResult(w, 200, &cases[0])
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		status int
		want   any
	}{{"/one", 200, cases[0]}, {"/batch", 207, long}} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != int64(len(body)) ||
			len(resp.TransferEncoding) != 0 || body[len(body)-1] != '\n' {
			t.Fatalf("%s: answer %d %v, %d bytes, Content-Length %d, Transfer-Encoding %v", tc.path, resp.StatusCode, resp.Header,
				len(body), resp.ContentLength, resp.TransferEncoding)
		}
		sameJSON(t, body, tc.want)
	}
	if n := len(appendBatchResult(nil, &long)); n <= countedByServer {
		t.Fatalf("the long answer is %d bytes: not longer than what the server counts", n)
	}
}

func FuzzProduceAnswerJSON(f *testing.F) {
	for _, r := range produceAnswerCases() {
		f.Add(r.MessageID, r.OffsetMessageID, r.Status, r.Queue.Topic, r.Queue.Broker, r.Queue.QueueID, r.Offset, "err", "")
	}
	f.Fuzz(func(t *testing.T, id, offID, status, topic, broker string, qid int32, offset int64, errText, code string) {
		r := sendResult{MessageID: id, OffsetMessageID: offID, Status: status, Queue: queueJSON{Topic: topic, Broker: broker, QueueID: qid}, Offset: offset}
		sameJSON(t, appendSendResult(nil, &r), r)
		b := batchResult{Results: []batchItem{{sendResult: &r}, {Error: errText, Code: code}, {sendResult: &r, Error: errText}}}
		sameJSON(t, appendBatchResult(nil, &b), b)
	})
}
