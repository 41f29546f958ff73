package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/internal/plugintest"
	"github.com/mqgate/mqgate/sdk/abi"
)

// A [[plugin]] of the file deleted through the admin API still names its slot: the next
// start checks the store's plugin of that name against it. An upload under that name for
// another slot is refused as the start would refuse it, not stored for a restart to fail
// on.
func TestUploadInAnotherSlotThanTheFilesDeletedPlugin(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	file := filepath.Join(t.TempDir(), "enricher.wasm")
	if err := os.WriteFile(file, plugintest.Build(t, "plugins/enricher"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := adminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Plugin = []PluginConfig{{Name: "enrich", File: file, Slot: "send", Config: map[string]any{"properties": map[string]any{"x-version": "file"}}}}
	g, stop := runGateway(t, cfg)
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/enrich", token: tokWriter}); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	r := upload(t, g, "enrich", "slot=rpc", rawModule{version: abi.Version, kind: abi.KindRPC}.bytes())
	if r.status != http.StatusConflict || r.str("code") != codeConflict {
		t.Errorf("upload for the rpc slot under the name of the file's send plugin: %d %s, want 409", r.status, r.raw)
	}
	stop()

	g2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Start(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatalf("restart on the same file and store: %v", err)
	}
	if err := g2.Shutdown(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// A reload adding a [[plugin]] of the name of an uploaded plugin in another slot fails
// for it, naming the conflict the next start would refuse the gateway for, rather than
// reporting it recorded.
func TestReloadOfAFilePluginInAnotherSlotThanTheStores(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	cfg := adminConfig(dc.NameServerAddr(), t.TempDir())
	g := startGateway(t, cfg)
	if r := upload(t, g, "enrich", enricherQuery("up", "slot", "send"), plugintest.Build(t, "plugins/enricher")); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	file := filepath.Join(t.TempDir(), "rpc.wasm")
	if err := os.WriteFile(file, rawModule{version: abi.Version, kind: abi.KindRPC}.bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	next := cfg
	next.Plugin = []PluginConfig{{Name: "enrich", File: file, Slot: "rpc"}}
	rep, err := g.Reload(ctxFor(t, 30*time.Second), next)
	if err == nil || len(rep.Failed) != 1 || rep.Failed[0].Key != `plugin "enrich"` || len(rep.Applied) != 0 ||
		!strings.Contains(err.Error(), "holds it as a send plugin") {
		t.Fatalf("reload: %+v, %v; want plugin \"enrich\" failed: the store holds it as a send plugin", rep, err)
	}
	if l := listPlugins(t, g); len(l) != 1 || l[0].Slot != "send" || l[0].File != "" {
		t.Fatalf("after the reload: %+v", l)
	}
}

// The store keeps the modules of the versions it lists, not those of versions dropped
// beyond maxVersions or of a deleted plugin: a gateway that takes an upload a day for a
// year does not fill its disk until the next restart.
func TestStoreRemovesTheModulesOfDroppedVersions(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	dir := t.TempDir()
	g := startGateway(t, adminConfig(dc.NameServerAddr(), dir))
	modules := func() []string {
		entries, err := os.ReadDir(filepath.Join(dir, modulesDir))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	base := rawModule{version: abi.Version, kind: abi.KindSend}.bytes()
	var v pluginJSON
	for i := range maxVersions + 3 {
		// Each its own module: a custom section (id 0, size 2, a name of 1 byte) apart.
		wasm := append(slices.Clone(base), 0, 2, 1, byte('a'+i))
		r := upload(t, g, "hook", "slot=send", wasm)
		if r.status != http.StatusCreated {
			t.Fatalf("upload %d: %d %s", i, r.status, r.raw)
		}
		v = pluginView(t, r)
	}
	var want []string
	for _, sv := range v.Versions {
		want = append(want, sv.SHA256+".wasm")
	}
	slices.Sort(want)
	if got := modules(); len(v.Versions) != maxVersions || !slices.Equal(got, want) {
		t.Errorf("after %d uploads the store holds %d modules for the %d versions listed", maxVersions+3, len(got), len(v.Versions))
	}
	if r := callAdmin(t, g, adminCall{method: "DELETE", path: "/v1/plugins/hook", token: tokWriter}); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if got := modules(); len(got) != 0 {
		t.Errorf("after the delete the store holds %d modules", len(got))
	}
}

// An activation by digest takes the prefix of a SHA-256 even when its first hex digits
// happen to be decimal ones (one module in 40 for 8 digits): it is not a version number.
func TestActivateByADigestPrefixOfDecimalDigits(t *testing.T) {
	dc := startDevCluster(t, devcluster.Config{})
	g := startGateway(t, adminConfig(dc.NameServerAddr(), t.TempDir()))
	base := rawModule{version: abi.Version, kind: abi.KindSend}.bytes()
	variant := func(i int) []byte { return append(slices.Clone(base), 0, 3, 1, 'v', byte(i)) } // a custom section
	var wasm []byte
	var prefix string
	for i := 0; i < 256 && wasm == nil; i++ {
		sum := sha256.Sum256(variant(i))
		if h := hex.EncodeToString(sum[:])[:8]; strings.Trim(h, "0123456789") == "" {
			wasm, prefix = variant(i), h
		}
	}
	if wasm == nil {
		t.Fatal("no module whose digest starts with 8 decimal digits")
	}
	if r := upload(t, g, "hook", "slot=send", wasm); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	other := append(slices.Clone(base), 0, 2, 1, 'o')
	if r := upload(t, g, "hook", "", other); r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	r := callAdmin(t, g, adminCall{method: "POST", path: "/v1/plugins/hook/activate", token: tokWriter, body: []byte(`{"version": "` + prefix + `"}`)})
	if v := pluginView(t, r); r.status != http.StatusOK || v.Active.Version != 1 {
		t.Fatalf("activate %q, the digest prefix of version 1: %d %s", prefix, r.status, r.raw)
	}
	// A short string of digits is still a version number.
	r = callAdmin(t, g, adminCall{method: "POST", path: "/v1/plugins/hook/activate", token: tokWriter, body: []byte(`{"version": "2"}`)})
	if v := pluginView(t, r); r.status != http.StatusOK || v.Active.Version != 2 {
		t.Fatalf(`activate "2": %d %s`, r.status, r.raw)
	}
}
