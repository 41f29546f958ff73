package host

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/mqgate/mqgate/sdk/abi"
)

// The checks of a module against the ABI that need no instance: imports (before
// compiling) and exports (after).

// checkImports refuses an import the ABI does not grant, naming it.
func checkImports(imports []importEntry) error {
	for _, im := range imports {
		switch {
		case im.kind != 0:
			return fmt.Errorf("imports %s, a %s: a module may import functions only", im, [...]string{"function", "table", "memory", "global", "tag"}[min(int(im.kind), 4)])
		case im.module == abi.WASIModule:
			if !grantedWASI[im.name] {
				return fmt.Errorf("imports %s, which ABI v%d does not grant (no filesystem, network or process access)", im, abi.Version)
			}
		case im.module == abi.HostModule:
			if im.name != abi.HostLog && im.name != abi.HostHMACSHA1 {
				return fmt.Errorf("imports %s, which is not a host function of ABI v%d", im, abi.Version)
			}
		default:
			return fmt.Errorf("imports %s from module %s, which the host does not provide", strconv.Quote(im.name), strconv.Quote(im.module))
		}
	}
	return nil
}

var grantedWASI = func() map[string]bool {
	m := make(map[string]bool)
	for _, f := range abi.WASIFunctions {
		m[f] = true
	}
	return m
}()

// funcType is an export's signature.
type funcType struct{ params, results []api.ValueType }

var (
	i32         = api.ValueTypeI32
	i64         = api.ValueTypeI64
	sigNone     = funcType{}
	sigVersion  = funcType{nil, []api.ValueType{i32}}
	sigBuffer   = funcType{[]api.ValueType{i32}, []api.ValueType{i32}}
	sigEntry    = funcType{[]api.ValueType{i32}, []api.ValueType{i64}}
	commonFuncs = []struct {
		name string
		sig  funcType
	}{{abi.ExportABIVersion, sigVersion}, {abi.ExportKind, sigVersion}, {abi.ExportBuffer, sigBuffer}, {abi.EntryInit.Export(), sigEntry}}
)

func (t funcType) String() string { return typesString(t.params) + " -> " + typesString(t.results) }

func typesString(ts []api.ValueType) string {
	s := "("
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(t)
	}
	return s + ")"
}

// checkExport refuses a missing or mistyped function export.
func checkExport(fns map[string]api.FunctionDefinition, name string, want funcType) error {
	f, ok := fns[name]
	if !ok {
		return fmt.Errorf("no export %q", name)
	}
	if got := (funcType{f.ParamTypes(), f.ResultTypes()}); !slices.Equal(got.params, want.params) || !slices.Equal(got.results, want.results) {
		return fmt.Errorf("export %q has type %v, want %v", name, got, want)
	}
	return nil
}

// checkExports checks what every module must export; the entry points of its kind are
// checked once the kind is known.
func checkExports(c wazero.CompiledModule) error {
	if _, ok := c.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("no exported memory %q", abi.ExportMemory)
	}
	fns := c.ExportedFunctions()
	for _, f := range commonFuncs {
		if err := checkExport(fns, f.name, f.sig); err != nil {
			return err
		}
	}
	if _, ok := fns[abi.ExportInitialize]; ok {
		if err := checkExport(fns, abi.ExportInitialize, sigNone); err != nil {
			return err
		}
	}
	return nil
}

func checkKindExports(c wazero.CompiledModule, k Kind) error {
	fns := c.ExportedFunctions()
	for _, e := range k.Entries() {
		if err := checkExport(fns, e.Export(), sigEntry); err != nil {
			return fmt.Errorf("kind %v needs it: %w", k, err)
		}
	}
	return nil
}
