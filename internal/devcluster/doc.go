// Package devcluster is an embedded double of an Apache RocketMQ 4.9.4 cluster: one
// NameServer (package namesrv) and one master broker (package broker) on one store
// (package store), for tests, benchmarks and the gateway's --dev mode. It is faithful for
// everything a client can observe and passes the interop suite (../../interop) that a
// real broker passes.
//
// Start opens the store, starts the NameServer and then the broker, and returns once the
// broker's routes are in the NameServer. The reliability suites break it on purpose:
// Faults injects delays, failures and SYSTEM_BUSY per request code on both servers;
// StopBroker, StartBroker and RestartBroker replace the broker in place (same port, same
// store and state files: messages, topics, consumer offsets, delay progress and pending
// transactions survive as they would on disk; connections and client tables do not); the
// NameServer's counterparts lose every route until the broker registers again, which
// in a dev cluster happens every second (Config.RegisterInterval) rather than Java's
// 30 s, and StartNameServer waits for it; DropConnections closes every connection.
//
// The broker has Java's delay levels (scaled by Config.DelayFactor, one table shared by
// the store and the broker's delay service), consumer send-back to retry and dead letter
// topics, transactions with check-back, and plain ACL: Config.ACL turns on access control
// from a plain_acl.yml, read by a parser for the YAML subset that file uses (LoadACL).
package devcluster
