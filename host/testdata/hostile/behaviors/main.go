// Command behaviors is a hostile send hook for the host's tests: what it does to a
// message depends on the message's body, so that one module serves every case.
//
//	ok        nothing
//	loop      never returns
//	spin:N    busy for N milliseconds of its (real) clock, then nothing
//	bomb      allocates memory until there is none
//	recurse   calls itself without end
//	garbage   allocates 1,000 small objects it drops at once
//	nil       dereferences a nil pointer (the sdk recovers: a plugin error)
//	goexit    panics in a goroutine, where nothing recovers (the module dies)
//	exit      calls os.Exit(3)
//	flood     logs 10,000 lines and prints 1 MiB to stdout
//	huge      sets a property of 20 MiB (over the host's output limit)
//	badprop   sets a property whose name holds the 0x01 separator
//	halfmsg   sets TRAN_MSG, which would make the send a transaction's half
//	error     answers an error
//	tag       sets the property "seen" to its TAGS
//
// Its After logs each outcome.
package main

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mqgate/mqgate/sdk"
)

var (
	sink []byte
	keep [][]byte
	n    int
)

func before(m *sdk.SendMessage) error {
	body := string(m.Body())
	switch {
	case body == "loop":
		for {
			n++
		}
	case strings.HasPrefix(body, "spin:"):
		ms, _ := strconv.Atoi(body[5:])
		for end := time.Now().Add(time.Duration(ms) * time.Millisecond); time.Now().Before(end); {
			n++
		}
	case body == "bomb":
		for {
			keep = append(keep, make([]byte, 1<<20))
		}
	case body == "recurse":
		n += recurse(0)
	case body == "garbage":
		var list []*[4]int
		for i := range 1000 {
			list = append(list, &[4]int{i})
		}
		n += len(list)
	case body == "nil":
		var p *sdk.SendMessage
		return errors.New(p.Topic())
	case body == "goexit":
		done := make(chan bool)
		go func() {
			var p *sdk.SendMessage
			sink = append(sink, p.Topic()...)
			done <- true
		}()
		runtime.Gosched()
		<-done
	case body == "exit":
		os.Exit(3)
	case body == "flood":
		for i := range 10000 {
			sdk.Log(sdk.LevelInfo, "flood line "+strconv.Itoa(i))
		}
		os.Stdout.Write([]byte(strings.Repeat("x", 1<<20) + "\n"))
	case body == "huge":
		m.SetProperty("huge", strings.Repeat("h", 20<<20))
	case body == "badprop":
		m.SetProperty("bad\x01name", "v")
	case body == "halfmsg":
		m.SetProperty("TRAN_MSG", "true")
	case body == "error":
		return errors.New("refused by the behaviors plugin")
	case body == "tag":
		m.SetProperty("seen", m.Tags())
	}
	return nil
}

// recurse calls itself without end: the stack limit ends it, or the memory holding Go's
// goroutine stack.
//
//go:noinline
func recurse(depth int) int {
	if depth < 0 {
		return 0
	}
	return recurse(depth+1) + 1
}

func after(m *sdk.SendMessage) {
	r := m.Result()
	if r.Sent {
		sdk.Log(sdk.LevelInfo, "after: sent "+m.Topic()+" "+r.MsgID+" offset "+strconv.FormatInt(r.QueueOffset, 10))
	} else {
		sdk.Log(sdk.LevelWarn, "after: failed "+m.Topic()+": "+r.Error)
	}
}

func init() {
	sdk.RegisterSendHook(sdk.SendHook{Before: before, After: after})
}

func main() {}
