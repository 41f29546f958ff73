// Package gateway composes mqgate: it reads gateway.toml (Load), starts the embedded dev
// cluster when asked (Config.Dev), the plugins (package host), the RocketMQ client
// instance (package instance) and its producer (package instance/producer), and serves
// them over an HTTP API, with an admin API for plugin upload on a listener of its own.
//
// # Lifecycle
//
// New validates a Config and applies its defaults (Config.Validate); Start starts the
// parts in dependency order and returns once the API listens; Shutdown fails readiness,
// stops accepting requests, waits for those in flight, stops the consumers (each stops
// pulling and drains: its webhook POSTs under way finish and count), then stops the
// producer (flushing what it coalesced), the instance and the dev cluster. cmd/gateway is
// the thin main.
//
// # HTTP API
//
// JSON in and out, on the standard library's net/http:
//
//	POST /v1/topics/{topic}/messages        one message  -> 200 {"message_id", "queue", "offset", ...}
//	POST /v1/topics/{topic}/messages/batch  {"messages": [...]} as one batch, to one queue -> 200 {"results": [...]}
//	GET  /healthz                           200 while the process serves
//	GET  /readyz                            200 when a message can be produced, else 503
//	POST /v1/consumers/{group}/receive      {"max", "wait_ms", "invisible_ms"} -> leased messages (api_consume.go)
//	POST /v1/consumers/{group}/ack          {"receipt_handles": [...]} -> ok, expired or unknown per handle
//	POST /v1/consumers/{group}/nack         {"receipt_handles": [...], "delay_level"} -> retried later
//	GET  /v1/consumers/{group}              the consumer's status: lag per queue, in flight, last error
//
// A message is {"body": "text"} or {"body_base64": "..."}, with optional "tags", "keys"
// (a list), "properties" (an object of strings), "delay_level" and "sharding_key" (which
// sends it in order with the others of the same key, to one queue). Requests are decoded
// strictly (an unknown field is an error) and checked before anything is sent. Errors
// answer {"error": "...", "code": "..."}: 400 for bad input, 413 for a message or request
// too large, 404 for an unknown topic, 403 when permission is refused, 422 when a send
// hook rejects the message, 503 (with Retry-After when the broker is busy; also for a
// topic none of whose queues is writable now) and 504 for a timeout. A batch some of whose messages a send hook rejected answers 207: the others
// were sent, and each result holds either its message id or its error.
//
// # Plugins
//
// WebAssembly plugins (package host, built against ../sdk) fill four slots: "send" hooks
// run around every send of the producer, "rpc" hooks around every request of the client
// instance (before the ACL signature, which then covers what they add), "consume" hooks
// around consumed batches, and "allocate" strategies split a topic's queues among a
// consumer group. A plugin comes from a [[plugin]] of gateway.toml (loaded at start: a
// module that cannot load stops the start with the file, line and reason, a
// *PluginError) or from an upload to the admin API, kept in the plugin store ([plugins]
// dir) and loaded again at every start. A name the store holds runs the store's active
// version, in the place of the file's [[plugin]] of that name.
//
// Hooks of a slot run in order: the [[plugin]]s of the file in the file's order, then
// uploaded plugins by their first upload. Uploading, activating, rolling back or deleting
// takes effect atomically, without restarting anything: calls in flight finish on the
// version they began on, and the next ones run the new set. A plugin's failed call (trap,
// deadline, memory, a bad answer) fails alone and its policy decides: fail the message,
// skip the plugin, or fall back to the built-in strategy.
//
// Consumers name allocation strategies and consume hooks; a name with no plugin behind
// it takes the built-in behaviour (Java's averagely strategy; every message delivered)
// until one is uploaded, and a change of a strategy is announced so that the consumer
// rebalances at once: the new assignment holds within one rebalance.
//
// Rolling out a strategy: every gateway of a consumer group must run the same allocation
// strategy, with the same configuration, because each consumer computes its own share of
// the queues and trusts the others to compute theirs the same way. While the gateways of
// a group run different strategies, some queues are consumed twice and others not at all.
// Upload (or activate, or roll back) a strategy on all the gateways of the group, one
// right after the other, and expect duplicates or a pause on some queues until the last
// one has it.
//
// # Admin API
//
// A second listener ([admin] listen, default 127.0.0.1:9090, loopback only) serves the
// admin API when at least one [[admin.token]] is configured. Every request carries
// "Authorization: Bearer <token>"; a missing or unknown token answers 401 (with
// WWW-Authenticate), a token without the route's scope 403. Scopes: plugins:read,
// plugins:write (which includes plugins:read), status:read, and * for all.
//
//	GET    /v1/plugins                  plugins:read   {"plugins": [...]}: versions, active, previous, status
//	GET    /v1/plugins/{name}           plugins:read   one plugin
//	PUT    /v1/plugins/{name}           plugins:write  upload a module: 201, the plugin (200: that module and settings were stored already)
//	POST   /v1/plugins/{name}/activate  plugins:write  {"version": 3} or {"version": "<sha256 or a prefix>"}
//	POST   /v1/plugins/{name}/rollback  plugins:write  the previous version becomes active (a second rollback undoes it)
//	POST   /v1/plugins/{name}/resume    plugins:write  lift the quarantine
//	DELETE /v1/plugins/{name}           plugins:write  out of its slot and the store (built-in behaviour applies);
//	                                                   409 while a consumer names it (allocate, consume_hooks), a
//	                                                   built-in strategy's name included: the plugin replaces it
//	GET    /v1/status                   status:read    listeners, the client instance (id, state, brokers and versions,
//	                                                   routes, groups), consumers with their queues and running info, plugins
//
// Consumers ([[consumer]] in the file, or through the admin API: admin_consumers.go;
// those added there are kept in the plugin store and run again after a restart,
// consumerstore.go):
//
//	GET    /v1/consumers                status:read      every consumer's status
//	GET    /v1/consumers/{group}        status:read      one consumer's status
//	PUT    /v1/consumers/{group}        consumers:write  a ConsumerConfig as JSON: 201, 409 when it exists, 400 naming the key
//	DELETE /v1/consumers/{group}        consumers:write  stops it (its POSTs under way finish), its offsets persisted
//
// Topics and consumer groups (admin_topics.go, admin_groups.go), through the client
// instance as mqadmin does; scopes topics:read, topics:write, groups:read, groups:write:
//
//	PUT    /v1/topics/{topic}                   topics:write  {"cluster", "read_queues", "write_queues", "perm", "order"} on every master
//	GET    /v1/topics                           topics:read   {"topics": [...]}
//	GET    /v1/clusters/{cluster}/topics        topics:read   {"cluster", "topics": [...]}
//	GET    /v1/groups/{group}/progress          groups:read   per queue offsets and lag, total lag, consume TPS (?topic=)
//	POST   /v1/groups/{group}/reset-offset      groups:write  {"topic", "timestamp": ms|RFC 3339|"now", "force"} -> new offsets
//
// Their errors add the codes cluster_not_found, group_not_found (404) and broker_error
// (502). Gateway.Reload (SIGHUP in cmd/gateway, reload.go) applies [[consumer]],
// [[plugin]], [telemetry] sample_ratio and [log] level changes live and reports the rest
// as needing a restart; it does not remove a [[plugin]] (or move it to another slot)
// that a consumer still names.
//
// An upload's body is the module, its metadata in the query (slot, required for a new
// name; policy, memory_limit, stack_limit, deadline, instances, max_instances,
// quarantine_after, config), or a multipart/form-data body with a "module" part and a
// "metadata" part (a JSON object of the same keys). Settings left out keep the active
// version's. The upload
// is checked before anything changes — size ([plugins] max_module_size: 413), WebAssembly
// magic, compilation, ABI version, kind against the slot, required exports, imports
// within the ABI (400 naming the export, import or version at fault), the module's
// initialization with its configuration (422), and for allocation strategies a trial
// call with three consumers and eight queues that must answer valid indices (422) —
// then stored (the module content-addressed, then the manifest, each written to a
// temporary file, fsynced and renamed), then swapped in. A refused upload changes nothing
// in the gateway or the store; a crash between storing the module and the manifest
// leaves the previous manifest in force. Errors answer {"error", "code"} as the produce
// API does: codes invalid_module, missing_export, forbidden_import, abi_version,
// unknown_kind, wrong_kind, init_failed, trial_failed, too_large, not_found, conflict
// (409: the name is in another slot, there is no previous version, or a consumer names
// the plugin a DELETE would remove), unauthorized, forbidden.
//
// A DELETE of a plugin that comes from gateway.toml removes it until the next reload or
// start (a consumer naming it is refused meanwhile); remove it from the file too.
package gateway
