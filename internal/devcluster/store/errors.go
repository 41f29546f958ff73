package store

import (
	"errors"
	"fmt"

	"github.com/mqgate/mqgate/message"
)

// fallbackPhysicalMemory is assumed where the machine's RAM is unknown.
const fallbackPhysicalMemory = 16 << 30

// Sentinels a caller can branch on with errors.Is.
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrInvalidMessage: a put names no topic, a negative queue id, or a batch mixes
	// queues or holds transactional half messages. The broker answers MESSAGE_ILLEGAL.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrMessageTooLarge is message.ErrMessageTooLarge: a body over MaxMessageSize,
	// properties over 32767 bytes, or a message or batch larger than a segment.
	ErrMessageTooLarge = message.ErrMessageTooLarge
	// ErrNotFound: no message is stored at a commit log offset (never written, dropped by
	// retention, or not the start of a message).
	ErrNotFound = errors.New("message not found")
	// ErrFlushFailed: the message was stored and is visible, but writing or syncing it to
	// disk failed; the broker answers FLUSH_DISK_TIMEOUT, as Java does. The flusher retries
	// at its next round.
	ErrFlushFailed = errors.New("flush failed")
)

// CorruptError says why a commit log record is not valid and where it is.
type CorruptError struct {
	Offset int64  // commit log offset of the record
	Reason string // what was found
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: commit log record at offset %d: %s", e.Offset, e.Reason)
}
