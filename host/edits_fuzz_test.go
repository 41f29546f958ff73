package host

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/sdk/abi"
)

// editAnswer encodes a before_send answer (after its status byte): count, then edits.
func editAnswer(edits ...func([]byte) []byte) []byte {
	b := abi.AppendU32(nil, uint32(len(edits)))
	for _, e := range edits {
		b = e(b)
	}
	return b
}

func setEdit(i uint32, name, value string) func([]byte) []byte {
	return func(b []byte) []byte {
		b = abi.AppendU8(abi.AppendU32(b, i), uint8(abi.OpSetProperty))
		return abi.AppendStr(abi.AppendStr(b, name), value)
	}
}

func oneStrEdit(i uint32, op abi.Op, s string) func([]byte) []byte {
	return func(b []byte) []byte { return abi.AppendStr(abi.AppendU8(abi.AppendU32(b, i), uint8(op)), s) }
}

// FuzzSendEdits: any answer a send hook gives is applied whole or not at all, never
// panics, and means the same to an instance that has seen other answers before (the
// instance remembers its last edit, checked): the same answer applied to fresh
// messages by a fresh instance and by one that has just applied it, or another answer,
// leaves the same properties and rejections.
func FuzzSendEdits(f *testing.F) {
	f.Add(editAnswer(setEdit(0, "x-gateway", "eu-1"), setEdit(1, "x-gateway", "eu-1")), []byte(nil), uint8(2))
	f.Add(editAnswer(setEdit(0, "a", "1"), setEdit(0, "a", "12"), setEdit(1, "a", "1")), editAnswer(setEdit(0, "a", "1")), uint8(2))
	f.Add(editAnswer(setEdit(0, "seen", "A"), oneStrEdit(1, abi.OpDeleteProperty, "TAGS"), oneStrEdit(2, abi.OpReject, "no")), []byte(nil), uint8(3))
	f.Add(editAnswer(setEdit(0, "bad\x01", "v")), editAnswer(setEdit(0, "ok", "v")), uint8(1))
	f.Add(editAnswer(setEdit(0, "k", "")), []byte{1, 0, 0, 0}, uint8(1))
	f.Add(editAnswer(setEdit(5, "k", "v")), []byte(nil), uint8(2))
	f.Add(editAnswer(setEdit(0, "k", strings.Repeat("v", 2*maxLastEdit)), setEdit(1, "k", "v")), editAnswer(setEdit(0, "k", "v")), uint8(2))
	f.Fuzz(func(t *testing.T, answer, earlier []byte, n uint8) {
		count := int(n%4) + 1
		apply := func(g *guest) ([]instance.SendEvent, failure) {
			evs := sendEvents("TagA", make([]string, count)...)
			return evs, applySendEdits(g, answer, evs)
		}
		fresh, want := apply(&guest{})
		if want.failed() {
			for i, ev := range fresh {
				if ev.Reject != "" || ev.Message.Properties.Encode() != sendEvents("TagA", make([]string, count)...)[i].Message.Properties.Encode() {
					t.Fatalf("a refused answer (%s) changed message %d: %s", want.detail, i, ev.Message.Properties.Encode())
				}
			}
		}
		for _, first := range [][]byte{answer, earlier} {
			g := &guest{}
			applySendEdits(g, first, sendEvents("TagA", make([]string, count)...))
			got, res := apply(g)
			if res.failed() != want.failed() {
				t.Fatalf("after %x: failed %v (%s), a fresh instance %v (%s)", first, res.failed(), res.detail, want.failed(), want.detail)
			}
			for i := range got {
				if gp, wp := got[i].Message.Properties.Encode(), fresh[i].Message.Properties.Encode(); gp != wp || got[i].Reject != fresh[i].Reject {
					t.Fatalf("after %x, message %d: %q rejected %q; a fresh instance: %q rejected %q", first, i, gp, got[i].Reject, wp, fresh[i].Reject)
				}
			}
		}
	})
}

// FuzzConsumeEdits: any answer a consume hook gives is applied whole (verdicts and
// edits) or not at all, and never panics.
func FuzzConsumeEdits(f *testing.F) {
	verdicts := func(vs ...byte) []byte { return append(abi.AppendU32(nil, uint32(len(vs))), vs...) }
	withEdits := func(vs []byte, edits ...func([]byte) []byte) []byte { return append(vs, editAnswer(edits...)...) }
	f.Add(withEdits(verdicts(0, 1), setEdit(0, "k", "v"), oneStrEdit(1, abi.OpSetBody, "new body")), uint8(2))
	f.Add(withEdits(verdicts(2), oneStrEdit(0, abi.OpDeleteProperty, "TAGS")), uint8(1))
	f.Add(withEdits(verdicts(9), setEdit(0, "k", "v")), uint8(1))
	f.Add(withEdits(verdicts(0), oneStrEdit(0, abi.OpReject, "send hooks only")), uint8(1))
	f.Fuzz(func(t *testing.T, answer []byte, n uint8) {
		count := int(n%4) + 1
		batch := func() ([]*message.Ext, []instance.ConsumeVerdict) {
			msgs := make([]*message.Ext, count)
			for i := range msgs {
				msgs[i] = &message.Ext{Message: message.Message{Topic: "T", Body: []byte("body")}}
				msgs[i].SetTags("TagA")
			}
			return msgs, make([]instance.ConsumeVerdict, count)
		}
		msgs, vs := batch()
		res := applyConsumeEdits(&guest{}, answer, msgs, vs)
		if !res.failed() {
			return
		}
		orig, _ := batch()
		for i := range msgs {
			if vs[i] != 0 || msgs[i].Properties.Encode() != orig[i].Properties.Encode() || string(msgs[i].Body) != "body" {
				t.Fatalf("a refused answer (%s) changed message %d: verdict %d, %q, body %q", res.detail, i, vs[i], msgs[i].Properties.Encode(), msgs[i].Body)
			}
		}
	})
}

// An instance remembers a short edit only: a large answer is applied, not kept.
func TestLargeEditIsNotRemembered(t *testing.T) {
	g := &guest{}
	big := strings.Repeat("v", 2*maxLastEdit)
	for range 2 {
		evs := sendEvents("TagA", "")
		if res := applySendEdits(g, editAnswer(setEdit(0, "k", big)), evs); res.failed() {
			t.Fatal(res.detail)
		}
		if evs[0].Message.Properties.Get("k") != big || len(g.edit.record()) != 0 {
			t.Fatalf("k %d bytes, %d bytes remembered", len(evs[0].Message.Properties.Get("k")), len(g.edit.record()))
		}
	}
	evs := sendEvents("TagA", "")
	if res := applySendEdits(g, editAnswer(setEdit(0, "k", "short")), evs); res.failed() || len(g.edit.record()) == 0 {
		t.Fatalf("a short edit after a large one: %s, remembered %q", res.detail, g.edit.record())
	}
}

// manySets returns n edits setting distinct properties of message i.
func manySets(i uint32, n int) []func([]byte) []byte {
	edits := make([]func([]byte) []byte, n)
	for k := range edits {
		edits[k] = setEdit(i, fmt.Sprintf("p%06d", k), "v")
	}
	return edits
}

// An answer may make maxMessageEdits edits of each message, not one more: past that the
// host's cost of applying it would grow with the square of the edits.
func TestEditsOfOneMessageAreBounded(t *testing.T) {
	ok := append(manySets(0, maxMessageEdits), manySets(1, maxMessageEdits)...)
	if res := applySendEdits(&guest{}, editAnswer(ok...), sendEvents("", "a", "b")); res.failed() {
		t.Fatalf("%d edits of each of two messages: %s", maxMessageEdits, res.detail)
	}
	tooMany := append(manySets(1, 1), manySets(0, maxMessageEdits+1)...)
	evs := sendEvents("", "a", "b")
	res := applySendEdits(&guest{}, editAnswer(tooMany...), evs)
	if res.kind != FailBadResult || res.detail != "more than 256 edits of message 0" {
		t.Fatalf("%d edits of one message: %v %q", maxMessageEdits+1, res.kind, res.detail)
	}
	if evs[1].Message.Properties.Get("p000000") != "" {
		t.Fatal("a refused answer set a property")
	}
	verdicts := abi.AppendU32(nil, 1)
	verdicts = append(verdicts, abi.VerdictDeliver)
	msgs := []*message.Ext{{Message: message.Message{Topic: "T"}}}
	res = applyConsumeEdits(&guest{}, append(verdicts, editAnswer(manySets(0, maxMessageEdits+1)...)...), msgs, make([]instance.ConsumeVerdict, 1))
	if res.kind != FailBadResult || msgs[0].Properties.Len() != 0 {
		t.Fatalf("consume, %d edits of one message: %v %q, %d properties", maxMessageEdits+1, res.kind, res.detail, msgs[0].Properties.Len())
	}
}

// An empty property name is a bad result in every edit that names one (ABI.md §6), a
// deletion's too: it would delete nothing, and says the plugin is broken.
func TestEmptyPropertyNameIsABadResult(t *testing.T) {
	for name, edit := range map[string]func([]byte) []byte{
		"set":    setEdit(0, "", "v"),
		"delete": oneStrEdit(0, abi.OpDeleteProperty, ""),
	} {
		if res := applySendEdits(&guest{}, editAnswer(edit), sendEvents("", "a")); res.kind != FailBadResult || res.detail != "empty property name" {
			t.Errorf("send, %s: %v %q, want a bad result", name, res.kind, res.detail)
		}
		verdicts := append(abi.AppendU32(nil, 1), abi.VerdictDeliver)
		msgs := []*message.Ext{{Message: message.Message{Topic: "T"}}}
		res := applyConsumeEdits(&guest{}, append(verdicts, editAnswer(edit)...), msgs, make([]instance.ConsumeVerdict, 1))
		if res.kind != FailBadResult || res.detail != "empty property name" {
			t.Errorf("consume, %s: %v %q, want a bad result", name, res.kind, res.detail)
		}
	}
}

// A hook may edit user properties, KEYS and TAGS, not the other system properties
// (ABI.md §6): a refused edit is a bad result that
// changes nothing, whether it sets or deletes, in a send hook's answer or a consume
// hook's.
func TestHookEditsOfSystemProperties(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"x-user", true}, {"KEYS", true}, {"TAGS", true}, {"DELAY", false}, {"WAIT", false},
		{"TRAN_MSG", false}, {"UNIQ_KEY", false}, {"REAL_TOPIC", false}, {"RETRY_TOPIC", false},
		{"RECONSUME_TIME", false}, {"CONSUME_START_TIME", false}, {"PGROUP", false},
	} {
		for op, edit := range map[string]func([]byte) []byte{
			"set":       setEdit(0, tc.name, "1"),
			"set-empty": setEdit(0, tc.name, ""),
			"delete":    oneStrEdit(0, abi.OpDeleteProperty, tc.name),
		} {
			// Behind an accepted edit: a refused answer changes nothing of it either.
			answer := editAnswer(setEdit(0, "x-first", "v"), edit)
			check := func(side string, res failure, props *message.Properties, before string) {
				t.Helper()
				switch {
				case tc.ok && res.failed():
					t.Errorf("%s, %s %s: refused: %s", side, op, tc.name, res.detail)
				case !tc.ok && (res.kind != FailBadResult || !strings.Contains(res.detail, `property "`+tc.name+`" is the system's`)):
					t.Errorf("%s, %s %s: %v %q, want a bad result naming it", side, op, tc.name, res.kind, res.detail)
				case !tc.ok && props.Encode() != before:
					t.Errorf("%s, %s %s: a refused answer changed the message: %q", side, op, tc.name, props.Encode())
				}
			}
			evs := sendEvents("TagA", "a")
			evs[0].Message.Properties.Set(tc.name, "0")
			before := evs[0].Message.Properties.Encode()
			check("send", applySendEdits(&guest{}, answer, evs), &evs[0].Message.Properties, before)

			msgs := []*message.Ext{{Message: message.Message{Topic: "T"}}}
			msgs[0].Properties.Set(tc.name, "0")
			before = msgs[0].Properties.Encode()
			verdicts := append(abi.AppendU32(nil, 1), abi.VerdictDeliver)
			res := applyConsumeEdits(&guest{}, append(verdicts, answer...), msgs, make([]instance.ConsumeVerdict, 1))
			check("consume", res, &msgs[0].Properties, before)
		}
	}
}

// abi.HookMayEdit, which guests use too, refuses exactly the system properties
// (message.IsSystemProperty) but KEYS and TAGS: every property name the
// message package declares is checked, so that a name added there cannot be missed here.
func TestHookMayEditFollowsTheSystemProperties(t *testing.T) {
	for _, name := range messagePropertyNames(t) {
		app := name == message.PropertyKeys || name == message.PropertyTags
		if want := app || !message.IsSystemProperty(name); abi.HookMayEdit(name) != want {
			t.Errorf("abi.HookMayEdit(%q) = %v, want %v", name, !want, want)
		}
	}
}

// messagePropertyNames returns the property names message/property_names.go declares.
func messagePropertyNames(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../message/property_names.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Property") || len(vs.Values) != 1 {
			return true
		}
		if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			name, _ := strconv.Unquote(lit.Value)
			names = append(names, name)
		}
		return true
	})
	if len(names) < 30 {
		t.Fatalf("found %d property names in message/property_names.go", len(names))
	}
	return names
}
