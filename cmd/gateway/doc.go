// Command gateway runs mqgate: a RocketMQ client instance and its producer, served over an
// HTTP API (package gateway).
//
//	go run ./cmd/gateway --dev                      # with an embedded dev cluster
//	go run ./cmd/gateway --config /etc/mqgate.toml  # against the NameServers it names
//
// Flags:
//
//	--config PATH       the configuration file (default gateway.toml; when that default
//	                    is missing, the built-in defaults apply)
//	--dev               start the embedded dev cluster ([dev] in the file) and point the
//	                    client at it
//	--log-level LEVEL   debug, info (default), warn or error
//	--log-format FMT    text (default) or json
//
// Once the API serves, it prints one line to standard output, for example
//
//	gateway ready: http://127.0.0.1:8080 (dev cluster: namesrv 127.0.0.1:9876, broker 127.0.0.1:10911)
//
// and, when the admin API serves ([admin] with at least one [[admin.token]]),
//
//	gateway ready: http://127.0.0.1:8080, admin http://127.0.0.1:9090
//
// and logs to standard error. SIGINT or SIGTERM shuts it down gracefully: new requests are
// refused, those in flight are answered, the consumers stop pulling and let their webhook
// POSTs under way finish, then the producer and the client instance stop, within [http]
// shutdown_timeout (during start-up, what started stops and the status is
// 0); a second signal kills it. Exit status: 0 after a clean shutdown, 1 when it cannot start or stop cleanly, 2 for bad flags or a bad
// configuration (the message names the file, line and key), a plugin that cannot be
// loaded included (gateway.toml:31: plugin "enrich": plugins/enricher.wasm: no export
// "mqgate_kind").
package main
