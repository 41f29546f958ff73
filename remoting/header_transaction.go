package remoting

import "strconv"

// Values of EndTransactionRequest.CommitOrRollback, Java's MessageSysFlag transaction types.
const (
	TransactionNotType      int32 = 0      // state unknown yet: the broker will check back
	TransactionCommitType   int32 = 1 << 3 // 8
	TransactionRollbackType int32 = 3 << 2 // 12
)

// EndTransactionRequest is the header of END_TRANSACTION (37, oneway), Java's
// EndTransactionRequestHeader: the producer's verdict on a half message, after sending it
// or when answering CHECK_TRANSACTION_STATE (FromTransactionCheck).
type EndTransactionRequest struct {
	ProducerGroup        string
	TranStateTableOffset int64 // the half message's queue offset
	CommitLogOffset      int64
	CommitOrRollback     int32 // TransactionNotType, TransactionCommitType or TransactionRollbackType
	FromTransactionCheck bool
	MsgID                string // the unique (client) message id
	TransactionID        string // null on the first verdict of the Java client
}

var endTransactionKeys = [...]string{"producerGroup", "tranStateTableOffset", "commitLogOffset",
	"commitOrRollback", "fromTransactionCheck", "msgId", "transactionId"}

// EncodeFields writes the fields in declaration order, skipping an empty transactionId.
func (h *EndTransactionRequest) EncodeFields(w *FieldWriter) {
	w.String("producerGroup", h.ProducerGroup)
	w.Int("tranStateTableOffset", h.TranStateTableOffset)
	w.Int("commitLogOffset", h.CommitLogOffset)
	w.Int("commitOrRollback", int64(h.CommitOrRollback))
	w.Bool("fromTransactionCheck", h.FromTransactionCheck)
	w.String("msgId", h.MsgID)
	if h.TransactionID != "" {
		w.String("transactionId", h.TransactionID)
	}
}

// DecodeFields reads h from ext. As Java's checkFields, it refuses a commitOrRollback
// other than 0, 8 and 12.
func (h *EndTransactionRequest) DecodeFields(ext ExtFields) error {
	*h = EndTransactionRequest{}
	d := fieldDecoder{header: "EndTransactionRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "producerGroup":
			h.ProducerGroup = d.str(0, f)
		case "tranStateTableOffset":
			h.TranStateTableOffset = d.int64(1, f)
		case "commitLogOffset":
			h.CommitLogOffset = d.int64(2, f)
		case "commitOrRollback":
			h.CommitOrRollback = d.int32(3, f)
		case "fromTransactionCheck":
			h.FromTransactionCheck = d.bool(4, f)
		case "msgId":
			h.MsgID = d.str(5, f)
		case "transactionId":
			h.TransactionID = d.str(6, f)
		}
	}
	// fromTransactionCheck (bit 4) and transactionId (bit 6) are nullable.
	if err := d.finish((1<<6-1)&^(1<<4), endTransactionKeys[:]); err != nil {
		return err
	}
	switch h.CommitOrRollback {
	case TransactionNotType, TransactionCommitType, TransactionRollbackType:
		return nil
	}
	return &HeaderError{Header: d.header, Field: "commitOrRollback",
		Reason: strconv.Itoa(int(h.CommitOrRollback)) + " is not 0, 8 or 12"}
}

// CheckTransactionStateRequest is the header of CHECK_TRANSACTION_STATE (39), sent oneway
// by the broker to a producer of the group about a half message left undecided; the body is
// the stored message. Java's CheckTransactionStateRequestHeader.
type CheckTransactionStateRequest struct {
	TranStateTableOffset int64
	CommitLogOffset      int64
	MsgID                string // nullable
	TransactionID        string // nullable
	OffsetMsgID          string // nullable
}

var checkTransactionKeys = [...]string{"tranStateTableOffset", "commitLogOffset", "msgId",
	"transactionId", "offsetMsgId"}

// EncodeFields writes the fields in declaration order, skipping empty ids.
func (h *CheckTransactionStateRequest) EncodeFields(w *FieldWriter) {
	w.Int("tranStateTableOffset", h.TranStateTableOffset)
	w.Int("commitLogOffset", h.CommitLogOffset)
	if h.MsgID != "" {
		w.String("msgId", h.MsgID)
	}
	if h.TransactionID != "" {
		w.String("transactionId", h.TransactionID)
	}
	if h.OffsetMsgID != "" {
		w.String("offsetMsgId", h.OffsetMsgID)
	}
}

// DecodeFields reads h from ext; the two offsets are required.
func (h *CheckTransactionStateRequest) DecodeFields(ext ExtFields) error {
	*h = CheckTransactionStateRequest{}
	d := fieldDecoder{header: "CheckTransactionStateRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "tranStateTableOffset":
			h.TranStateTableOffset = d.int64(0, f)
		case "commitLogOffset":
			h.CommitLogOffset = d.int64(1, f)
		case "msgId":
			h.MsgID = d.str(2, f)
		case "transactionId":
			h.TransactionID = d.str(3, f)
		case "offsetMsgId":
			h.OffsetMsgID = d.str(4, f)
		}
	}
	return d.finish(1<<2-1, checkTransactionKeys[:])
}
