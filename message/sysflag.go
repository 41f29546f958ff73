package message

// Bits of a message's sysFlag, as Java's MessageSysFlag (4.9.4).
const (
	SysFlagCompressed = 0x1
	SysFlagMultiTags  = 0x2
	// The transaction type takes bits 2-3.
	SysFlagTransactionNotType  = 0x0
	SysFlagTransactionPrepared = 0x1 << 2
	SysFlagTransactionCommit   = 0x2 << 2
	SysFlagTransactionRollback = 0x3 << 2
	SysFlagTransactionMask     = 0x3 << 2
	SysFlagBornHostV6          = 0x1 << 4
	SysFlagStoreHostV6         = 0x1 << 5
	SysFlagNeedUnwrap          = 0x1 << 6
	SysFlagInnerBatch          = 0x1 << 7
	// The compression type takes bits 8-10; a compressed body with none is zlib, as
	// clients before 4.9.4 wrote it.
	SysFlagCompressionLZ4  = 0x1 << 8
	SysFlagCompressionZSTD = 0x2 << 8
	SysFlagCompressionZlib = 0x3 << 8
	SysFlagCompressionMask = 0x7 << 8

	sysFlagCompressionBits = SysFlagCompressed | SysFlagCompressionMask
	sysFlagHostBits        = SysFlagBornHostV6 | SysFlagStoreHostV6
)

// TransactionType returns the transaction bits of sysFlag: SysFlagTransactionNotType,
// SysFlagTransactionPrepared, SysFlagTransactionCommit or SysFlagTransactionRollback.
func TransactionType(sysFlag int32) int32 { return sysFlag & SysFlagTransactionMask }

// compressionType returns the compression type number in bits 8-10 of sysFlag.
func compressionType(sysFlag int32) int32 { return (sysFlag & SysFlagCompressionMask) >> 8 }
