package gateway

import (
	"github.com/mqgate/mqgate/internal/wasmgen"
	"github.com/mqgate/mqgate/sdk/abi"
)

// The plugin tests' modules: the built-in plugins and host's hostile ones, built from
// their sources by internal/plugintest, and small hand-written modules (internal/wasmgen)
// that break one rule of the ABI.

// rawModule is a minimal module that speaks the ABI (every entry point answers status OK
// and nothing else), but for the rule it breaks.
type rawModule struct {
	version int32    // what mqgate_abi_version returns
	kind    abi.Kind // what mqgate_kind returns
	omit    string   // an export left out
	imports []string // WASI functions imported
}

func (m rawModule) bytes() []byte {
	p := wasmgen.Plugin{Version: m.version, Kind: m.kind, Omit: m.omit}
	for _, name := range m.imports {
		p.Imports = append(p.Imports, wasmgen.Import{Module: abi.WASIModule, Name: name})
	}
	return p.Bytes()
}
