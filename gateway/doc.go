// Package gateway composes mqgate: it reads gateway.toml (Load), starts the embedded dev
// cluster when asked (Config.Dev), the RocketMQ client instance (package instance) and its
// producer (package instance/producer), and serves them over an HTTP API.
//
// # Lifecycle
//
// New validates a Config and applies its defaults (Config.Validate); Start starts the
// parts in dependency order and returns once the API listens; Shutdown fails readiness,
// stops accepting requests, waits for those in flight, then stops the producer (flushing
// what it coalesced), the instance and the dev cluster. cmd/gateway is the thin main.
//
// # HTTP API
//
// JSON in and out, on the standard library's net/http:
//
//	POST /v1/topics/{topic}/messages        one message  -> 200 {"message_id", "queue", "offset", ...}
//	POST /v1/topics/{topic}/messages/batch  {"messages": [...]} as one batch, to one queue -> 200 {"results": [...]}
//	GET  /healthz                           200 while the process serves
//	GET  /readyz                            200 when a message can be produced, else 503
//
// A message is {"body": "text"} or {"body_base64": "..."}, with optional "tags", "keys"
// (a list), "properties" (an object of strings), "delay_level" and "sharding_key" (which
// sends it in order with the others of the same key, to one queue). Requests are decoded
// strictly (an unknown field is an error) and checked before anything is sent. Errors
// answer {"error": "...", "code": "..."}: 400 for bad input, 413 for a message or request
// too large, 404 for an unknown topic, 403 when permission is refused, 422 when a send
// hook rejects the message, 503 (with Retry-After when the broker is busy) and 504 for a
// timeout. A batch some of whose messages a send hook rejected answers 207: the others
// were sent, and each result holds either its message id or its error.
package gateway
