// Package wasmgen writes small WebAssembly modules byte by byte, for tests and
// benchmarks: modules no Go compiler would produce (a missing export, a forbidden import,
// a start function, an out-of-range result), minimal ones that speak the plugin ABI, and
// Enricher, a send hook with no language runtime, to tell the sandbox's cost from a Go
// guest's.
package wasmgen
