// Package bench holds side-by-side benchmarks of mqgate and rocketmq-client-go v2.1.2 on the
// same inputs, in one run. It is a module of its own so that the peer never enters mqgate's
// go.mod. Run bench/peer.sh once first (scripts/bench.sh does).
package bench
