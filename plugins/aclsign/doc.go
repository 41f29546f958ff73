// Package aclsign computes the request signature of Apache RocketMQ's plain ACL, exactly
// as the Java client's AclClientRPCHook does (acl/.../common/AclClientRPCHook.java,
// AclUtils.combineRequestContent and AclSigner.calSignature in 4.9.4): the values of all
// extFields but Signature, in the order of their keys (a TreeMap: Java's String.compareTo),
// then the body, signed with HMAC-SHA1 under the secret key and Base64-encoded.
//
// The package imports nothing but the standard library and does no I/O, so that the same
// source is the native RPC hook's signer (package instance) and, compiled with
// GOOS=wasip1 GOARCH=wasm, the RPC-hook plugin's; both must give identical answers.
package aclsign
