// Package message holds RocketMQ messages and their byte forms: the Message a producer
// sends and the Ext a broker stores and a consumer receives, the properties string, the
// commit-log layout of stored messages (PULL_MESSAGE and CHECK_TRANSACTION_STATE bodies),
// the SEND_BATCH_MESSAGE body, body compression, the offset and unique (UNIQ_KEY) message
// ids, and the validation rules of the Java client.
//
// It performs no I/O. Encoders append to a caller's buffer and write what Apache RocketMQ
// 4.9.4 writes byte for byte; decoders never panic on hostile input, report what was wrong
// and where with a *DecodeError, and bound every allocation (inflated bodies included).
//
// A Decoder decodes a whole body in one call into a reusable slice. By default every byte it
// returns is copied out of the input (all bodies of a call into one allocation); with
// ZeroCopy set, bodies alias the input instead. Either way the property strings of all the
// messages of a call share one allocation, the topic is allocated only when it changes,
// and only compressed bodies are inflated into memory of their own.
package message
