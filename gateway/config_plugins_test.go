package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/host"
	"github.com/mqgate/mqgate/sdk/abi"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const pluginsFile = `[client]
namesrv = ["127.0.0.1:9876"]

[admin]
listen = "127.0.0.1:0"

[[admin.token]]
name = "ci"
token = "${MQGATE_CI_TOKEN}"
scopes = ["plugins:write"]

[[admin.token]]
name = "dashboard"
token = "a-literal-token-of-some-length"
scopes = ["plugins:read", "status:read"]

[plugins]
dir = "/var/lib/mqgate/plugins"
cache_dir = "off"
max_module_size = 8388608

[[plugin]]
name = "enrich"
file = "plugins/enricher.wasm"
slot = "send"
policy = "fail"
deadline = "5ms"
config = { properties = { x-gateway = "eu-1" }, overwrite = true }

[[plugin]]
name = "circle"
file = "plugins/circle.wasm"
slot = "allocate"
memory_limit = 16777216
stack_limit = 4194304
instances = 1
max_instances = 2
quarantine_after = -1

[plugin.config]
rooms = ["room1"]
`

func TestParsePluginsAndAdmin(t *testing.T) {
	c, err := Parse("gateway.toml", []byte(pluginsFile), env(map[string]string{"MQGATE_CI_TOKEN": "from-the-environment-1234"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen == nil || *c.Admin.Listen != "127.0.0.1:0" || len(c.Admin.Tokens) != 2 {
		t.Fatalf("admin %+v", c.Admin)
	}
	ci := c.Admin.Tokens[0]
	if ci.Name != "ci" || ci.Token != "from-the-environment-1234" || ci.Scopes[0] != "plugins:write" || ci.pos != "gateway.toml:7" {
		t.Errorf("token %+v", ci)
	}
	if c.Admin.Tokens[1].pos != "gateway.toml:12" {
		t.Errorf("second token at %s", c.Admin.Tokens[1].pos)
	}
	if c.Plugins.Dir != "/var/lib/mqgate/plugins" || c.Plugins.CacheDir != "off" || c.Plugins.MaxModuleSize != 8<<20 {
		t.Errorf("plugins %+v", c.Plugins)
	}
	if len(c.Plugin) != 2 {
		t.Fatalf("%d plugins", len(c.Plugin))
	}
	e, a := c.Plugin[0], c.Plugin[1]
	if e.pos != "gateway.toml:22" || a.pos != "gateway.toml:30" {
		t.Errorf("positions %s, %s", e.pos, a.pos)
	}
	if e.Name != "enrich" || e.Slot != "send" || e.Policy != "fail" || e.Deadline != 5*time.Millisecond {
		t.Errorf("enrich %+v", e)
	}
	st, err := e.settings()
	if err != nil || st.Config != `{"overwrite":true,"properties":{"x-gateway":"eu-1"}}` {
		t.Errorf("enrich settings %+v %v", st, err)
	}
	if a.MemoryLimit != 16<<20 || a.StackLimit != 4<<20 || a.Instances != 1 || a.MaxInstances != 2 || a.QuarantineAfter != -1 {
		t.Errorf("circle %+v", a)
	}
	if st, _ := a.settings(); st.hostConfig("circle", host.KindAllocate).StackLimit != 4<<20 {
		t.Errorf("circle's stack limit did not reach the host: %+v", st)
	}
	if st, _ := a.settings(); st.Config != `{"rooms":["room1"]}` {
		t.Errorf("circle config %q ([plugin.config] belongs to the last [[plugin]])", st.Config)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParsePluginErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{"a type error in the second [[plugin]]",
			"[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"send\"\n\n[[plugin]]\nname = \"b\"\nmemory_limit = \"32MiB\"\n",
			nil, `gateway.toml:8: key "memory_limit" in [[plugin]]: want an integer, got a string`},
		{"an integer deadline is refused",
			"[[plugin]]\nname = \"a\"\ndeadline = 10\n",
			nil, `gateway.toml:3: key "deadline" in [[plugin]]: want a duration string such as "3s", got an integer`},
		{"an unknown key in a [[plugin]]",
			"[[plugin]]\nname = \"a\"\nslto = \"send\"\n",
			nil, `gateway.toml:3: unknown key "slto" in [[plugin]] (did you mean "slot"?)`},
		{"a single table for an array of tables",
			"[plugin]\nname = \"a\"\n",
			nil, `gateway.toml:1: key "plugin": want an array of tables, got a table`},
		{"config is a table",
			"[[plugin]]\nname = \"a\"\nconfig = \"{}\"\n",
			nil, `gateway.toml:3: key "config" in [[plugin]]: want a table, got a string`},
		{"a token from an unset variable",
			"[[admin.token]]\nname = \"a\"\nscopes = [\"*\"]\n\n[[admin.token]]\nname = \"b\"\ntoken = \"${MQGATE_B}\"\n",
			nil, `gateway.toml:7: key "token" in [[admin.token]]: environment variable MQGATE_B is not set`},
		{"scopes of the wrong type",
			"[[admin.token]]\nname = \"a\"\nscopes = \"*\"\n",
			nil, `gateway.toml:3: key "scopes" in [[admin.token]]: want an array of strings, got a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gateway.toml", []byte(tt.toml), env(tt.env))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error\n %v\nwant\n %s", err, tt.want)
			}
		})
	}
}

func TestValidatePluginsNamesTheEntry(t *testing.T) {
	tests := []struct {
		name, toml string
		want       string
	}{
		{"unknown slot", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"sned\"\n",
			`gateway.toml:1: [[plugin]] "a": slot "sned": want allocate, send, consume or rpc`},
		{"no slot", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\n",
			`gateway.toml:1: [[plugin]] "a": slot is empty`},
		{"no file", "[[plugin]]\nname = \"a\"\nslot = \"send\"\n",
			`gateway.toml:1: [[plugin]] "a": file is empty`},
		{"a name that is no path segment", "[[plugin]]\nname = \"a/b\"\nfile = \"a.wasm\"\nslot = \"send\"\n",
			`gateway.toml:1: [[plugin]] "a/b": name: "a/b": character '/' is not one of [A-Za-z0-9._-]`},
		{"two plugins of one name", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"send\"\n[[plugin]]\nname = \"a\"\nfile = \"b.wasm\"\nslot = \"rpc\"\n",
			`gateway.toml:5: [[plugin]] "a": a second plugin of that name`},
		{"unknown policy", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"send\"\npolicy = \"retry\"\n",
			`gateway.toml:1: [[plugin]] "a": unknown plugin policy "retry"`},
		{"memory under a page", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"send\"\nmemory_limit = 1000\n",
			`gateway.toml:1: [[plugin]] "a": memory_limit: 1000 is under one 64 KiB page`},
		{"a stack over the host's bound", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"send\"\nstack_limit = 67108864\n",
			`gateway.toml:1: [[plugin]] "a": stack_limit: 67108864 is over the 32 MiB the host allows`},
		{"max instances under instances", "[[plugin]]\nname = \"a\"\nfile = \"a.wasm\"\nslot = \"send\"\ninstances = 4\nmax_instances = 2\n",
			`gateway.toml:1: [[plugin]] "a": max_instances: 2 is under instances (4)`},
		{"a short token", "[[admin.token]]\nname = \"a\"\ntoken = \"short\"\nscopes = [\"*\"]\n",
			`gateway.toml:1: [[admin.token]] "a": token is 5 bytes, under the 16 required`},
		{"an unknown scope", "[[admin.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"plugins:admin\"]\n",
			`gateway.toml:1: [[admin.token]] "a": unknown scope "plugins:admin"`},
		{"no scopes", "[[admin.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\n",
			`gateway.toml:1: [[admin.token]] "a": no scopes`},
		{"the same token twice", "[[admin.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"*\"]\n[[admin.token]]\nname = \"b\"\ntoken = \"0123456789abcdef\"\nscopes = [\"*\"]\n",
			`gateway.toml:5: [[admin.token]] "b": the same token as another`},
		{"a bad admin address", "[admin]\nlisten = \"localhost\"\n[[admin.token]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nscopes = [\"*\"]\n",
			`[admin] listen: address localhost: missing port in address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("gateway.toml", []byte("[client]\nnamesrv = [\"127.0.0.1:9876\"]\n"+tt.toml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			// The lines above count from the test's own text: shift by the two lines of [client].
			want := shiftLine(tt.want, 2)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error\n %v\nwant it to hold\n %s", err, want)
			}
		})
	}
}

// shiftLine adds n to the line of a "gateway.toml:L:" prefix.
func shiftLine(s string, n int) string {
	rest, ok := strings.CutPrefix(s, "gateway.toml:")
	if !ok {
		return s
	}
	num, tail, _ := strings.Cut(rest, ":")
	l, _ := strconv.Atoi(num)
	return "gateway.toml:" + strconv.Itoa(l+n) + ":" + tail
}

func TestAdminDefaults(t *testing.T) {
	var c Config
	c.Client.NameServers = []string{"127.0.0.1:9876"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if *c.Admin.Listen != DefaultAdminListen || c.Admin.enabled() || c.Plugins.Dir != "" {
		t.Errorf("without tokens: admin %q enabled=%v, store %q", *c.Admin.Listen, c.Admin.enabled(), c.Plugins.Dir)
	}
	c = Config{Admin: AdminConfig{Tokens: []AdminToken{{Name: "a", Token: "0123456789abcdef", Scopes: []string{"*"}}}}}
	c.Client.NameServers = []string{"127.0.0.1:9876"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Admin.enabled() || c.Plugins.Dir != DefaultPluginDir || c.Plugins.MaxModuleSize != DefaultMaxModuleSize {
		t.Errorf("with a token: enabled=%v, store %q", c.Admin.enabled(), c.Plugins.Dir)
	}
	c.Admin.Listen = ptr("")
	if c.Admin.enabled() {
		t.Error(`listen = "" leaves the admin API on`)
	}
}

// TestStartRefusesBadPluginFiles: a [[plugin]] whose module is missing, is no plugin, or
// is of another kind than its slot stops the start with the file, the line and the reason.
func TestStartRefusesBadPluginFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noKind := write("nokind.wasm", rawModule{version: 1, kind: abi.KindSend, omit: abi.ExportKind}.bytes())
	allocator := write("allocator.wasm", rawModule{version: 1, kind: abi.KindAllocate}.bytes())
	tests := []struct {
		name, file, slot, want string
	}{
		{"missing file", filepath.Join(dir, "absent.wasm"), "send", `gateway.toml:3: plugin "p": open ` + filepath.Join(dir, "absent.wasm") + `: no such file or directory`},
		{"missing export", noKind, "send", `gateway.toml:3: plugin "p": ` + noKind + `: no export "mqgate_kind"`},
		{"kind not the slot's", allocator, "send", `gateway.toml:3: plugin "p": ` + allocator + `: module is a plugin of kind allocate, the slot takes kind send`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "[client]\nnamesrv = [\"127.0.0.1:1\"]\n[[plugin]]\nname = \"p\"\nfile = \"" + tt.file + "\"\nslot = \"" + tt.slot + "\"\n" +
				"[plugins]\ncache_dir = \"off\"\n[http]\nlisten = \"127.0.0.1:0\"\n" // not a default port another process may hold
			c, err := Parse("gateway.toml", []byte(text), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			c.Logger = discard
			g, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			err = g.Start(context.Background())
			var pe *PluginError
			if !errors.As(err, &pe) || err.Error() != tt.want {
				t.Fatalf("start: %v (%T)\nwant a *PluginError: %s", err, err, tt.want)
			}
			if err := g.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The example gateway.toml documents the defaults of [admin] and [plugins] too.
func TestExampleFileDocumentsThePluginDefaults(t *testing.T) {
	example, err := Load("../gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	empty := Config{Client: ClientConfig{NameServers: []string{"127.0.0.1:9876"}}}
	for _, c := range []*Config{&example, &empty} {
		c.Logger = discard
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(example.Admin, empty.Admin) || !reflect.DeepEqual(example.Plugins, empty.Plugins) || len(example.Plugin) != 0 {
		t.Errorf("example [admin] %+v [plugins] %+v %d [[plugin]]\ndefault [admin] %+v [plugins] %+v",
			example.Admin, example.Plugins, len(example.Plugin), empty.Admin, empty.Plugins)
	}
}
