package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/sdk/abi"
)

// cEnricher loads plugins/cenricher, the enricher written in C against sdk/c/mqgate.h.
func cEnricher(t testing.TB, r *Runtime, config string) (*SendHook, error) {
	p, err := r.Load(context.Background(), PluginConfig{Name: "cenricher", Kind: KindSend, Instances: 1,
		Config: []byte(config)}, plugintest.BuildC(t, "plugins/cenricher"))
	if err != nil {
		return nil, err
	}
	return NewSendHook(p)
}

// The C enricher and the sdk's Go enricher, configured alike, leave every message with
// the same properties, over random messages (the header absent, present, names that
// nearly match it) in batches of 1 to 3000 (the C module growing its memory), for names
// shorter than a word, of one to two words and longer (the C helpers' three ways to
// compare and copy).
func TestCEnricherMatchesGoEnricher(t *testing.T) {
	r, _ := newRuntime(t)
	rng := rand.New(rand.NewPCG(7, 11))
	for _, name := range []string{"xg", "x-gateway", "x-gateway-region-primary"} {
		for _, overwrite := range []bool{false, true} {
			c, err := cEnricher(t, r, fmt.Sprintf(`{"name": %q, "value": "eu-1", "overwrite": %v}`, name, overwrite))
			if err != nil {
				t.Fatal(err)
			}
			goHook, err := NewSendHook(load(t, r, PluginConfig{Name: fmt.Sprint("go-enricher-", name, overwrite), Kind: KindSend,
				Config: []byte(fmt.Sprintf(`{"properties": {%q: "eu-1"}, "overwrite": %v}`, name, overwrite))}, "plugins/enricher"))
			if err != nil {
				t.Fatal(err)
			}
			for round, n := range []int{1, 2, 17, 3000} {
				a, b := randomSendEvents(rng, name, n), []instance.SendEvent(nil)
				for _, ev := range a {
					m := *ev.Message
					m.Properties = ev.Message.Properties.Clone()
					ev.Message = &m
					b = append(b, ev)
				}
				if err := c.BeforeSend(context.Background(), a); err != nil {
					t.Fatalf("%s, overwrite %v, round %d: C: %v", name, overwrite, round, err)
				}
				if err := goHook.BeforeSend(context.Background(), b); err != nil {
					t.Fatalf("%s, overwrite %v, round %d: Go: %v", name, overwrite, round, err)
				}
				for i := range a {
					if got, want := a[i].Message.Properties.Encode(), b[i].Message.Properties.Encode(); got != want {
						t.Fatalf("%s, overwrite %v, round %d, message %d: C left %q, Go %q", name, overwrite, round, i, got, want)
					}
				}
			}
		}
	}
}

// randomSendEvents returns n messages with up to three properties among name and names
// that nearly match it: one byte changed at either end, one more, one fewer.
func randomSendEvents(rng *rand.Rand, name string, n int) []instance.SendEvent {
	evs := sendEvents("TagA", strings.Split(strings.Repeat("x,", n), ",")[:n]...)
	names := []string{name, "Y" + name[1:], name[:len(name)-1] + "Y", name + "y", name[:len(name)-1]}
	for i := range evs {
		for range rng.IntN(4) {
			evs[i].Message.Properties.Set(names[rng.IntN(len(names))], fmt.Sprint("v", rng.IntN(3)))
		}
	}
	return evs
}

// The C enricher reads its configuration's fields wherever they are, a value that
// spells a key included.
func TestCEnricherReadsItsConfig(t *testing.T) {
	r, _ := newRuntime(t)
	for _, config := range []string{
		`{"value": "eu-1", "name": "x-gateway"}`,
		`{"overwrite": false, "value": "eu-1", "name": "x-gateway"}`,
		"{\n  \"name\" :\t\"x-gateway\",\n  \"value\": \"eu-1\"\n}",
	} {
		h, err := cEnricher(t, r, config)
		if err != nil {
			t.Fatalf("config %q: %v", config, err)
		}
		evs := sendEvents("TagA", "a")
		if err := h.BeforeSend(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		if got := evs[0].Message.Properties.Get("x-gateway"); got != "eu-1" {
			t.Errorf("config %q: x-gateway %q", config, got)
		}
	}
	h, err := cEnricher(t, r, `{"name": "value", "value": "name"}`)
	if err != nil {
		t.Fatal(err)
	}
	evs := sendEvents("TagA", "a")
	if err := h.BeforeSend(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if got := evs[0].Message.Properties.Get("value"); got != "name" {
		t.Errorf("a value that spells a key: property value = %q, want name", got)
	}
}

// A configuration the C enricher cannot use refuses the module at load, saying why.
func TestCEnricherRefusesBadConfig(t *testing.T) {
	r, _ := newRuntime(t)
	for config, want := range map[string]string{
		``:                               "want {",
		`{"name": "x"}`:                  "want {",
		`{"name": 1, "value": "v"}`:      "must be strings",
		`{"name": "", "value": "v"}`:     "must not be empty",
		`{"name": "a\"b", "value": "v"}`: "escapes",
		"{\"name\": \"a\x01\", \"value\": \"v\"}": "0x01 or 0x02",
		`{"name": "x", "value": "unterminated`:    "unterminated",
		// A misspelt key or an overwrite that is not a boolean is refused, as the Go
		// plugins refuse them: read as absent, overwrite was false without a word.
		`{"name": "x", "value": "v", "overwite": true}`:    `unknown key "overwite"`,
		`{"name": "x", "value": "v", "overwrite": "true"}`: "overwrite must be true or false",
		`{"name": "x", "value": "v", "overwrite": tru}`:    "overwrite must be true or false",
		`{"name": "x", "value": "v"} {}`:                   "want {",
	} {
		_, err := cEnricher(t, r, config)
		if !errors.Is(err, ErrInitFailed) || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: %v, want ErrInitFailed saying %q", config, err, want)
		}
	}
}

// The C sdk's mqgate_may_edit agrees with abi.HookMayEdit on every property name the
// message package declares: the C enricher configured with one loads if and only if a
// hook may edit it, and is refused at initialization, naming the reason, otherwise.
func TestCEnricherRefusesSystemProperties(t *testing.T) {
	r, _ := newRuntime(t)
	for _, name := range append(messagePropertyNames(t), "x-gateway", "KEYSX", "TRAN") {
		h, err := cEnricher(t, r, `{"name": "`+name+`", "value": "v"}`)
		switch {
		case abi.HookMayEdit(name) && err != nil:
			t.Errorf("%s refused: %v", name, err)
		case !abi.HookMayEdit(name) && (!errors.Is(err, ErrInitFailed) || !strings.Contains(err.Error(), "system property")):
			t.Errorf("%s: %v, want ErrInitFailed saying it is a system property", name, err)
		}
		if h != nil {
			h.p.Close(context.Background())
		}
	}
}

// Any configuration loads the C enricher or refuses it at initialization: the example's
// hand-written parser never traps, loops or reads past its input.
func FuzzCEnricherConfig(f *testing.F) {
	for _, seed := range []string{`{"name": "x-gateway", "value": "eu-1", "overwrite": true}`, `{"name": "a"`, `"name":`,
		`{"name": "", "value": ""}`, "{\"name\": \"\x01\"}", `{"name":"x","value":"y"}`, `:::"name":"`} {
		f.Add(seed)
	}
	r, _ := newRuntime(f)
	f.Fuzz(func(t *testing.T, config string) {
		h, err := cEnricher(t, r, config)
		if err != nil {
			if !errors.Is(err, ErrInitFailed) {
				t.Fatalf("config %q: %v, want ErrInitFailed", config, err)
			}
			return
		}
		if err := h.BeforeSend(context.Background(), sendEvents("TagA", "a")); err != nil {
			t.Fatalf("config %q: loaded, then %v", config, err)
		}
		_ = h.p.Close(context.Background())
	})
}
