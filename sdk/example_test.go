package sdk_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqgate/mqgate/sdk"
	"github.com/mqgate/mqgate/sdk/abi"
)

// A whole allocation strategy plugin: queue i goes to client i % len(clients). A module's
// main.go holds the registration in an init function and an empty main; the test calls
// the same function natively.
func Example_allocator() {
	sdk.Reset()
	circle := func(req sdk.AllocateRequest) []int {
		var mine []int
		for i := range req.Queues {
			if i%len(req.Clients) == req.Self {
				mine = append(mine, i)
			}
		}
		return mine
	}
	sdk.RegisterAllocator(circle)

	req := sdk.AllocateRequest{SelfID: "c1", Self: 1, Clients: []string{"c0", "c1", "c2"},
		Queues: make([]sdk.Queue, 8)}
	fmt.Println(circle(req))
	// Output: [1 4 7]
}

// A send hook that stamps every message with a header and refuses messages without tags.
func ExampleRegisterSendHook() {
	sdk.Reset()
	hook := sdk.SendHook{Before: func(m *sdk.SendMessage) error {
		if m.Tags() == "" {
			m.Reject("a message needs tags")
			return nil
		}
		m.SetProperty("x-gateway", "eu-1")
		return nil
	}}
	sdk.RegisterSendHook(hook)

	m := sdk.NewSendMessage("orders", sdk.PropertiesOf("TAGS", "created"), []byte("{}"))
	_ = hook.Before(m)
	fmt.Println(m.Edits(), m.Property("x-gateway"))
	// Output: [{1 x-gateway eu-1 []}] eu-1
}

// A consume hook that skips messages whose tag is not wanted.
func ExampleRegisterConsumeHook() {
	sdk.Reset()
	hook := sdk.ConsumeHook{Before: func(c *sdk.ConsumeContext, m *sdk.ConsumedMessage) error {
		if m.Tags() != "paid" {
			m.Skip()
		}
		return nil
	}}
	sdk.RegisterConsumeHook(hook)

	for _, tag := range []string{"paid", "created"} {
		m := sdk.NewConsumedMessage(sdk.PropertiesOf("TAGS", tag), nil)
		_ = hook.Before(&sdk.ConsumeContext{Topic: "orders"}, m)
		fmt.Println(tag, m.Verdict() == sdk.Skip)
	}
	// Output:
	// paid false
	// created true
}

// An RPC hook that adds a field to every request and reads its configuration at load.
func ExampleRegisterRPCHook() {
	sdk.Reset()
	var token string
	sdk.Configure(func(config []byte) error {
		token = strings.TrimSpace(string(config))
		if token == "" {
			return errors.New("no token configured")
		}
		return nil
	})
	sdk.RegisterRPCHook(sdk.RPCHook{BeforeRequest: func(r *sdk.Request) error {
		r.SetField("Token", token)
		return nil
	}})

	// The gateway loads the module with its configuration, then calls the hook; Dispatch
	// does the same natively through the ABI.
	out := sdk.Dispatch(abi.EntryInit, []byte("s3cret"))
	fmt.Println("init status", out[0])
	e := abi.Encoder{Buf: make([]byte, abi.StrSize(9)+8+4+abi.StrSize(0))}
	e.Str("127.0.0.1") // addr
	e.I32(10)          // code
	e.I32(0)           // flag
	e.U32(0)           // no fields
	e.Str("")          // no body
	d := abi.NewDecoder(sdk.Dispatch(abi.EntryBeforeRequest, e.Buf))
	fmt.Println("status", d.U8(), "fields", d.U32(), d.Str(), d.Str())
	// Output:
	// init status 0
	// status 0 fields 1 Token s3cret
}

func ExampleProperties_Get() {
	p := sdk.PropertiesOf("TAGS", "TagA", "KEYS", "k1 k2")
	fmt.Println(p.Get("KEYS"), p.Get("missing") == "")
	// Output: k1 k2 true
}
