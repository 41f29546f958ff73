// Package leb128 appends the LEB128 integers of the WebAssembly binary format: the
// host's module rewriter and the test modules of internal/wasmgen write them alike.
package leb128
