// Package plugintest builds plugins (the built-in ones under plugins/, the hostile ones
// under host/testdata/hostile/) into WebAssembly modules for tests, with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared. A module is built once per test
// binary and cached on disk under a hash of the Go sources it may depend on, so that CI
// and repeated runs pay for the build once.
package plugintest
