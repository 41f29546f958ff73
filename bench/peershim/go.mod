// These files are not a module of their own: bench/peer.sh copies them into a scratch copy
// of rocketmq-client-go v2.1.2 so that benchmarks can reach its internal codec and remoting
// client. This go.mod only keeps them out of the bench module's ./... pattern.
module mqgate.invalid/peershim

go 1.26
