// Package remoting encodes and decodes RocketMQ remoting commands: frames, the JSON and
// ROCKETMQ header serializations, request and response codes, typed request and response
// headers, and the JSON bodies that travel in them.
//
// It performs no I/O. Decoding never panics on hostile input and never allocates more than
// the frame it is given; encoding appends to a caller-supplied buffer so that a transport can
// reuse pooled buffers. Output matches what Apache RocketMQ 4.9.4 writes byte for byte,
// including the order in which Java's HashMap iterates extFields in JSON headers.
package remoting
