// Package store is the storage layer of the dev cluster's broker: a commit log and consume
// queues that behave, for everything a client can observe, like the DefaultMessageStore of
// Apache RocketMQ 4.9.4.
//
// # Layout
//
// The commit log is a sequence of segments, each a []byte of Config.SegmentSize bytes named
// by the commit log offset it starts at, as Java's mapped files are. Messages are encoded
// by message.AppendStored straight into the active segment, in the layout a PULL_MESSAGE
// body carries; a message that does not fit, with the 8 bytes Java always keeps free, ends
// the segment with Java's end-of-file marker (total size = bytes left, magic 0xCBD43194)
// and goes to the next segment, which starts at the previous one's start + its size. So
// commit log offsets, offset message ids and the fields of a stored message are those a
// Java broker would write.
//
// A consume queue (topic, queue id) is an array of entries: commit log offset, size, tags
// code (Java's) and store timestamp. Queue offsets are positions in it. In file mode the
// consume queues are rebuilt from the commit log at Open; a queue whose every message
// retention dropped starts at its max offset as saved in queueOffsets.json, written each
// time retention drops segments, before their files are deleted.
//
// # Visibility and lifetime
//
// Puts are serialized by one mutex. A put writes the bytes, then publishes them: the
// segment's written length and the queue's max offset are stored atomically after the
// bytes, so a reader that loads a max offset sees every entry and byte below it. All
// messages of a batch become visible at once. Readers take no lock.
//
// Get returns stored messages as slices of segment memory, without copying. Segments are
// append-only and never reused: retention drops whole segments from the store's tables
// and the garbage collector frees them once no slice refers to them, so a slice returned
// by Get, ReadAt or Lookup stays valid and unchanged for as long as it is referenced. Do not
// modify it.
//
// # Retention
//
// When the segments exceed Config.MaxBytes, the oldest are dropped (their files deleted in
// file mode) and every consume queue's min offset moves to its first entry still in the
// commit log, as Java's CleanCommitLogService and correctMinOffset do; Get then answers
// OFFSET_TOO_SMALL below it.
//
// # Persistence
//
// With Config.Dir set, segments are also files Dir/commitlog/<20-digit start offset>,
// written and fsynced by a flusher goroutine: on every put (group commit, the put waits)
// or every Config.FlushInterval. The commit log is the only source of truth: Open reads
// every segment, validates each record (sizes, magic code, field lengths adding up, the
// commit log offset it claims, its queue offset following the previous one of its queue,
// the body CRC) and rebuilds the consume queues from it. The first invalid or torn record
// and everything after it is truncated (the file cut, later files removed), logged with
// its offset, and never served; new puts continue at the truncated position. Everything
// retained is also held in memory, so memory use is about MaxBytes in both modes.
//
// WriteFileAtomic, SaveJSON and LoadJSON persist the broker's small state files (consumer
// offsets, topic configs, delay offsets) so that a crash leaves the old or the new
// content, never a mix.
package store
