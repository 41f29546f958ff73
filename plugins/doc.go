// Package plugins holds no code: its directories are the built-in plugins' sources.
//
// Each plugin is a main package that compiles to a WebAssembly module with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o NAME.wasm ./plugins/NAME
//
// or `go generate ./plugins/...`, which writes NAME.wasm beside each source (ignored by
// git: no module is committed; the host's tests build them). The allocation strategies
// (averagely, circle, consistenthash, byconfig, machineroom) are thin sdk mains over
// package allocate, the consumer's native strategies; acl signs requests with package
// aclsign, as the native ACL hook does; tagfilter, enricher and redactor are example
// hooks to copy. Those that take a configuration read it with package jsonconfig, which
// refuses a key they do not know. Every plugin keeps its logic in plain Go that go test
// runs natively.
package plugins
