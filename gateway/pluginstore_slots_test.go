package gateway

import (
	"net/http"
	"os"
	"path/filepath"
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
