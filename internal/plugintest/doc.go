// Package plugintest builds plugins (the built-in ones under plugins/, the hostile ones
// under host/testdata/hostile/) into WebAssembly modules for tests, with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, and the C example under
// plugins/cenricher with clang for wasm32. A module is built once per test binary and
// cached on disk under a hash of the sources it may depend on, so that CI and repeated
// runs pay for the build once.
package plugintest
