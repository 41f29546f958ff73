// Package abi is the mqgate plugin ABI in code: the version, the plugin kinds, the names
// and signatures of the exports and host functions, the WASI functions a module may
// import, the codes that travel in results, and the little-endian codec both sides use
// to lay out what crosses the boundary. ../ABI.md documents the layouts byte by byte.
//
// It is shared by the guest (package sdk, built for GOOS=wasip1) and the host (package
// host), so that the two cannot disagree about a constant. It imports only the standard
// library and performs no allocation: the Encoder writes into a buffer the caller sized,
// the Decoder returns views of the buffer it reads.
package abi
