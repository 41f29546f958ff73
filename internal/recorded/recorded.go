package recorded

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Frame is one line of index.jsonl with the frame's bytes.
type Frame struct {
	File          string            `json:"file"`
	Scenario      string            `json:"scenario"`
	Direction     string            `json:"direction"`
	Peer          string            `json:"peer"`
	SerializeType string            `json:"serializeType"`
	Response      bool              `json:"response"`
	Oneway        bool              `json:"oneway"`
	Code          int32             `json:"code"`
	Language      any               `json:"language"`
	Version       int32             `json:"version"`
	Opaque        int32             `json:"opaque"`
	Flag          int32             `json:"flag"`
	Remark        *string           `json:"remark"`
	ExtFields     map[string]string `json:"extFields"`
	HeaderLength  int               `json:"headerLength"`
	BodyLength    int               `json:"bodyLength"`

	// Bytes is the whole frame, 4-byte total length included.
	Bytes []byte `json:"-"`
}

// FromClient reports whether the client sent the frame.
func (f *Frame) FromClient() bool { return f.Direction == "client->server" }

// Dir returns the directory of the recordings: $MQGATE_RECORDINGS, or
// ../shared/testdata/rocketmq-4.9.4 next to the repository root.
func Dir() string {
	if d := os.Getenv("MQGATE_RECORDINGS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	return filepath.Join(root, "..", "shared", "testdata", "rocketmq-4.9.4")
}

// Load reads every recorded frame in capture order.
func Load() ([]Frame, error) {
	dir := Dir()
	f, err := os.Open(filepath.Join(dir, "index.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var frames []Frame
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var fr Frame
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
			return nil, fmt.Errorf("index.jsonl:%d: %w", line, err)
		}
		fr.Bytes, err = os.ReadFile(filepath.Join(dir, fr.File))
		if err != nil {
			return nil, err
		}
		frames = append(frames, fr)
	}
	return frames, sc.Err()
}

// MustLoad loads the recordings or fails the test; a missing directory is a failure, not a
// skip, because CI always has ../shared beside the repository.
func MustLoad(tb testing.TB) []Frame {
	tb.Helper()
	frames, err := Load()
	if err != nil {
		tb.Fatalf("loading recorded frames from %s: %v", Dir(), err)
	}
	if len(frames) == 0 {
		tb.Fatalf("no recorded frames in %s", Dir())
	}
	return frames
}

// Find returns the frame recorded in file, or fails the test.
func Find(tb testing.TB, frames []Frame, file string) *Frame {
	tb.Helper()
	for i := range frames {
		if frames[i].File == file {
			return &frames[i]
		}
	}
	tb.Fatalf("no recorded frame %s", file)
	return nil
}
