// Command devcluster runs the embedded RocketMQ 4.9.4 double (package
// internal/devcluster): a NameServer and a broker, for trying the gateway or a RocketMQ
// client without a Java installation.
//
//	go run ./cmd/devcluster -namesrv 127.0.0.1:9876 -broker 127.0.0.1:10911
//
// Once both serve, it prints one line to standard output:
//
//	devcluster ready: namesrv 127.0.0.1:9876 broker 127.0.0.1:10911 (cluster DefaultCluster, broker broker-a)
//
// and logs to standard error. SIGINT or SIGTERM shuts it down (within 10 s; a second
// signal kills it). Exit status: 0 after a clean shutdown, 1 when it cannot start or stop
// cleanly, 2 for bad flags.
package main
