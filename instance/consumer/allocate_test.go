package consumer

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/plugins/allocate"
)

// The adapters answer what Java answers: the strategy package's table of cases computed
// by the Java 4.9.4 classes (read in place), through the instance.AllocateStrategy
// interface, plus the worked examples of REMOTING.md.

func TestAllocateWorkedExamples(t *testing.T) {
	queues := make([]instance.MessageQueue, 8)
	for i := range queues {
		queues[i] = instanceMQ("T", i)
	}
	clients := []string{"c0", "c1", "c2"}
	for _, tt := range []struct {
		strategy instance.AllocateStrategy
		want     [][]int
	}{
		{Averagely(), [][]int{{0, 1, 2}, {3, 4, 5}, {6, 7}}},
		{AveragelyByCircle(), [][]int{{0, 3, 6}, {1, 4, 7}, {2, 5}}},
	} {
		var union []int
		for i, self := range clients {
			got, err := tt.strategy.Allocate("g", self, clients, queues)
			if err != nil || !slices.Equal(got, tt.want[i]) {
				t.Errorf("%s %s = %v, %v; want %v", tt.strategy.Name(), self, got, err, tt.want[i])
			}
			union = append(union, got...)
		}
		slices.Sort(union)
		if !slices.Equal(union, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
			t.Errorf("%s: union %v", tt.strategy.Name(), union)
		}
	}
}

type javaCase struct {
	Self    string                     `json:"self"`
	Clients []string                   `json:"clients"`
	Queues  [][3]any                   `json:"queues"`
	VNodes  int                        `json:"vnodes"`
	Rooms   []string                   `json:"rooms"`
	Config  [][3]any                   `json:"config"`
	Results map[string]json.RawMessage `json:"results"`
}

func mqsOf(raw [][3]any) []instance.MessageQueue {
	out := make([]instance.MessageQueue, len(raw))
	for i, r := range raw {
		out[i] = instance.MessageQueue{Topic: r[0].(string), BrokerName: r[1].(string), QueueID: int32(r[2].(float64))}
	}
	return out
}

func TestAllocateAdaptersMatchJava(t *testing.T) {
	f, err := os.Open("../../plugins/allocate/testdata/java-4.9.4.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	cases := 0
	for line := 1; sc.Scan(); line++ {
		var c javaCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		queues := mqsOf(c.Queues)
		strategies := map[string]instance.AllocateStrategy{
			allocate.NameAveragely:         Averagely(),
			allocate.NameAveragelyByCircle: AveragelyByCircle(),
			allocate.NameConsistentHash:    ConsistentHash(c.VNodes),
			allocate.NameByConfig:          ByConfig(mqsOf(c.Config)),
			allocate.NameByMachineRoom:     ByMachineRoom(c.Rooms),
		}
		for name, raw := range c.Results {
			s := strategies[name]
			if s.Name() != name {
				t.Fatalf("adapter for %s is named %s", name, s.Name())
			}
			got, err := s.Allocate("g", c.Self, c.Clients, queues)
			var exception string
			if json.Unmarshal(raw, &exception) == nil {
				if err == nil {
					t.Errorf("line %d %s: Java throws %q, the adapter answered %v", line, name, exception, got)
				}
				continue
			}
			var want []int
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("line %d %s: %v", line, name, err)
			}
			if name == allocate.NameByConfig { // Java's list of configured queues, as indices, each once
				var idx []int
				for _, i := range want {
					if i >= 0 && !slices.Contains(idx, i) {
						idx = append(idx, i)
					}
				}
				want = idx
			}
			if err != nil || !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
				t.Errorf("line %d %s: %v, %v; Java %v", line, name, got, err, want)
			}
			cases++
		}
	}
	if cases < 1000 {
		t.Errorf("only %d cases checked", cases)
	}
}

func TestAllocateQueuesRefusesBadAnswers(t *testing.T) {
	queues := []instance.MessageQueue{instanceMQ("T", 0), instanceMQ("T", 1)}
	if _, err := allocateQueues(Averagely(), "g", "me", nil, queues); !errors.Is(err, ErrStrategy) ||
		!errors.Is(err, allocate.ErrNoClients) {
		t.Errorf("no clients = %v", err)
	}
	got, err := allocateQueues(ConsistentHash(10), "g", "me", []string{"me", "you"}, queues)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := allocateQueues(ConsistentHash(10), "g", "you", []string{"me", "you"}, queues)
	if len(got)+len(other) != 2 {
		t.Errorf("consistent hash split %v / %v", got, other)
	}
}
