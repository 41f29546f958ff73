package message

import (
	"net/netip"
	"time"
)

// Ext is a message as the broker stored it: Java's MessageExt (MessageClientExt on the
// client side). A Decoder fills it from a PULL_MESSAGE or CHECK_TRANSACTION_STATE body;
// AppendStored writes it back in the commit-log layout.
type Ext struct {
	Message

	QueueID     int32
	QueueOffset int64 // position in the consume queue
	// CommitLogOffset is the physical offset in the broker's commit log.
	CommitLogOffset int64
	// StoreSize is the size of the stored message, as stored: a compressed body counts with
	// its compressed length even after the Decoder inflated it.
	StoreSize int32
	// SysFlag is the system flag as stored (see the SysFlag constants), except that a Decoder
	// that inflates a body clears the compression bits, so that SysFlag always describes
	// Body. (Java keeps the bits set on the MessageExt it inflated.)
	SysFlag int32
	// BodyCRC is the stored CRC of the stored body (Java's UtilAll.crc32: CRC-32 IEEE masked
	// to 31 bits), of the compressed bytes when the body was stored compressed.
	// AppendStored computes it afresh, as the broker does when it stores a message.
	BodyCRC        int32
	BornTimestamp  int64 // milliseconds since the epoch, set by the producer
	BornHost       netip.AddrPort
	StoreTimestamp int64 // milliseconds since the epoch, set by the broker
	StoreHost      netip.AddrPort
	ReconsumeTimes int32
	// PreparedTransactionOffset is the commit log offset of the half message that a
	// committed or rolled back transactional message ends.
	PreparedTransactionOffset int64

	// BrokerName is not on the wire: a consumer sets it to the broker it pulled from.
	BrokerName string
}

// OffsetMsgID returns the offset message id: store host and commit log offset in hex.
// It is computed on each call.
func (e *Ext) OffsetMsgID() string { return OffsetMsgID(e.StoreHost, e.CommitLogOffset) }

// MsgID returns the id an application knows the message by: the UNIQ_KEY the producer
// assigned, or the offset message id when there is none (Java's MessageClientExt.getMsgId).
func (e *Ext) MsgID() string {
	if id := e.UniqKey(); id != "" {
		return id
	}
	return e.OffsetMsgID()
}

// BornTime returns BornTimestamp as a time.
func (e *Ext) BornTime() time.Time { return time.UnixMilli(e.BornTimestamp) }

// StoreTime returns StoreTimestamp as a time.
func (e *Ext) StoreTime() time.Time { return time.UnixMilli(e.StoreTimestamp) }

// Clone returns a deep copy of e: its body and property list are copied, so it survives
// the reuse of a Decoder's slice and of the input buffer.
func (e *Ext) Clone() Ext {
	c := *e
	c.Message = e.Message.Clone()
	return c
}
