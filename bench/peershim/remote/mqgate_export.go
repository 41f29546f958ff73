// Copied by bench/peer.sh into rocketmq-client-go's internal/remote package of a scratch
// copy, to expose its unexported codec to mqgate's side-by-side benchmarks. mqgate's own
// code; nothing here is rocketmq-client-go's.

package remote

// Encode is the peer's encode.
func Encode(c *RemotingCommand) ([]byte, error) { return encode(c) }

// Decode is the peer's decode; data is the frame after its 4-byte length.
func Decode(data []byte) (*RemotingCommand, error) { return decode(data) }

// UseJSON and UseRocketMQ select the peer's process-wide header serialization.
func UseJSON()     { codecType = JsonCodecs }
func UseRocketMQ() { codecType = RocketMQCodecs }
