package allocate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func ids(n int) []string {
	c := make([]string, n)
	for i := range c {
		c[i] = fmt.Sprintf("c%d", i)
	}
	return c
}

// The worked examples of shared/protocol/REMOTING.md and cases worked by hand from the
// Java definitions.
func TestAveragely(t *testing.T) {
	tests := []struct {
		name    string
		clients int
		queues  int
		want    [][]int // per client
	}{
		{"8 queues, 3 clients (REMOTING.md)", 3, 8, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7}}},
		{"even split", 2, 4, [][]int{{0, 1}, {2, 3}}},
		{"one queue each when queues equal clients", 3, 3, [][]int{{0}, {1}, {2}}},
		{"more clients than queues leaves the last ones idle", 4, 2, [][]int{{0}, {1}, nil, nil}},
		{"remainder goes to the first clients", 4, 10, [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}}},
		{"single client takes all", 1, 5, [][]int{{0, 1, 2, 3, 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ids(tt.clients)
			for i := range c {
				if got := Averagely(c[i], c, tt.queues); !slices.Equal(got, tt.want[i]) {
					t.Errorf("client %d: got %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestAveragelyByCircle(t *testing.T) {
	tests := []struct {
		name    string
		clients int
		queues  int
		want    [][]int
	}{
		{"8 queues, 3 clients (REMOTING.md)", 3, 8, [][]int{{0, 3, 6}, {1, 4, 7}, {2, 5}}},
		{"more clients than queues", 3, 2, [][]int{{0}, {1}, nil}},
		{"single client takes all", 1, 3, [][]int{{0, 1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ids(tt.clients)
			for i := range c {
				if got := AveragelyByCircle(c[i], c, tt.queues); !slices.Equal(got, tt.want[i]) {
					t.Errorf("client %d: got %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestStrategiesRefuseWhatJavaRefuses(t *testing.T) {
	c := ids(2)
	for _, tt := range []struct {
		name    string
		self    string
		clients []string
		queues  int
		err     error
	}{
		{"empty client id", "", c, 4, ErrEmptyClientID},
		{"no queues", "c0", c, 0, ErrNoQueues},
		{"no clients", "c0", nil, 4, ErrNoClients},
		{"not a member is no error", "zz", c, 4, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.self, tt.clients, tt.queues); !errors.Is(err, tt.err) {
				t.Fatalf("Check = %v, want %v", err, tt.err)
			}
			names := make([]string, tt.queues)
			brokers := slices.Repeat([]string{"room@b"}, tt.queues)
			for name, got := range map[string][]int{
				"Averagely":         Averagely(tt.self, tt.clients, tt.queues),
				"AveragelyByCircle": AveragelyByCircle(tt.self, tt.clients, tt.queues),
				"ConsistentHash":    ConsistentHash(tt.self, tt.clients, names, 10),
				"ByMachineRoom":     ByMachineRoom(tt.self, tt.clients, brokers, []string{"room"}),
			} {
				if len(got) != 0 {
					t.Errorf("%s answered %v", name, got)
				}
			}
		})
	}
}

func TestByMachineRoom(t *testing.T) {
	brokers := []string{"r1@a", "r1@a", "r2@b", "r1@c", "r1@c", "nope", "r1@d", "r1@", "r1@x@y", "r1@e@"}
	// Matching (room r1): 0 1 3 4 6 9 — six queues; "r1@" splits to one part and "r1@x@y"
	// to three. Two clients: runs of 3, no remainder. Four clients: runs of one, and the
	// remainder [6 9] goes to clients 0 and 1.
	c2, c4 := ids(2), ids(4)
	for _, tt := range []struct {
		clients []string
		self    int
		want    []int
	}{
		{c2, 0, []int{0, 1, 3}},
		{c2, 1, []int{4, 6, 9}},
		{c4, 0, []int{0, 6}},
		{c4, 1, []int{1, 9}},
		{c4, 2, []int{3}},
		{c4, 3, []int{4}},
	} {
		if got := ByMachineRoom(tt.clients[tt.self], tt.clients, brokers, []string{"r1"}); !slices.Equal(got, tt.want) {
			t.Errorf("%d clients, client %d: got %v, want %v", len(tt.clients), tt.self, got, tt.want)
		}
	}
}

func TestMachineRoomSplitsAsJava(t *testing.T) {
	for name, want := range map[string]string{
		"room@broker": "room", "@broker": "", "a@b@": "a", "a@b@@": "a",
		"": "-", "@": "-", "@@": "-", "plain": "-", "a@@": "-", "a@b@c": "-", "@@b": "-",
	} {
		room, ok := machineRoom(name)
		if !ok {
			room = "-"
		}
		if room != want {
			t.Errorf("machineRoom(%q) = %q, want %q", name, room, want)
		}
	}
}

func TestByConfig(t *testing.T) {
	q := func(b string, id int32) Queue { return Queue{Topic: "T", BrokerName: b, QueueID: id} }
	queues := []Queue{q("a", 0), q("a", 1), q("b", 0)}
	got := ByConfig([]Queue{q("b", 0), q("zz", 9), q("a", 0), q("b", 0)}, queues)
	if want := []int{2, 0}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestQueueStringIsJavas(t *testing.T) {
	got := Queue{Topic: "TopicTest", BrokerName: "broker-a", QueueID: 3}.String()
	if want := "MessageQueue [topic=TopicTest, brokerName=broker-a, queueId=3]"; got != want {
		t.Fatalf("got %q", got)
	}
}

func TestConsistentHashRing(t *testing.T) {
	// The hash is the first four bytes of MD5("c0-0"), big-endian.
	if got, want := md5Hash([]byte("c0-0")), uint32(0x8a18b93e); got != want {
		// printf c0-0 | md5sum: 8a18b93ecfe2c6d77a60694161d7a0fc
		t.Fatalf("md5Hash = %08x, want %08x", got, want)
	}
	// Every queue goes to exactly one client.
	c := ids(5)
	names := make([]string, 64)
	for i := range names {
		names[i] = Queue{Topic: "T", BrokerName: "b", QueueID: int32(i)}.String()
	}
	seen := make([]int, len(names))
	for _, self := range c {
		for _, i := range ConsistentHash(self, c, names, DefaultVirtualNodes) {
			seen[i]++
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("queue %d allocated %d times", i, n)
		}
	}
}

// javaCase is one line of testdata/java-4.9.4.jsonl, written by testdata/java/gen.sh from
// the real Java classes.
type javaCase struct {
	Self    string                     `json:"self"`
	Clients []string                   `json:"clients"`
	Queues  [][3]any                   `json:"queues"`
	VNodes  int                        `json:"vnodes"`
	Rooms   []string                   `json:"rooms"`
	Config  [][3]any                   `json:"config"`
	Results map[string]json.RawMessage `json:"results"`
}

func queuesOf(raw [][3]any) []Queue {
	out := make([]Queue, len(raw))
	for i, r := range raw {
		out[i] = Queue{Topic: r[0].(string), BrokerName: r[1].(string), QueueID: int32(r[2].(float64))}
	}
	return out
}

func TestMatchesJava494(t *testing.T) {
	f, err := os.Open("testdata/java-4.9.4.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for line := 1; sc.Scan(); line++ {
		var c javaCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		queues := queuesOf(c.Queues)
		names := make([]string, len(queues))
		brokers := make([]string, len(queues))
		for i, q := range queues {
			names[i], brokers[i] = q.String(), q.BrokerName
		}
		got := map[string][]int{
			NameAveragely:         Averagely(c.Self, c.Clients, len(queues)),
			NameAveragelyByCircle: AveragelyByCircle(c.Self, c.Clients, len(queues)),
			NameConsistentHash:    ConsistentHash(c.Self, c.Clients, names, c.VNodes),
			NameByConfig:          ByConfig(queuesOf(c.Config), queues),
			NameByMachineRoom:     ByMachineRoom(c.Self, c.Clients, brokers, c.Rooms),
		}
		for name, raw := range c.Results {
			var exception string
			if json.Unmarshal(raw, &exception) == nil {
				err := Check(c.Self, c.Clients, len(queues))
				if err == nil || !strings.HasSuffix(err.Error(), exception) {
					t.Errorf("line %d %s: Java threw %q, Check says %v", line, name, exception, err)
				}
				continue
			}
			var want []int
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("line %d %s: %v", line, name, err)
			}
			if name == NameByConfig {
				// Java answers its configured list; as indices, absent queues and repeats go.
				var idx []int
				for _, i := range want {
					if i >= 0 && !slices.Contains(idx, i) {
						idx = append(idx, i)
					}
				}
				want = idx
			}
			if !slices.Equal(got[name], want) && len(got[name])+len(want) > 0 {
				t.Errorf("line %d %s: self %q of %d clients, %d queues: got %v, Java %v",
					line, name, c.Self, len(c.Clients), len(queues), got[name], want)
			}
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 1500 {
		t.Fatalf("only %d answers compared", n)
	}
}
