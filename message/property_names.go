package message

// Property names, as Java's MessageConst (4.9.4) spells them.
const (
	PropertyKeys                           = "KEYS"
	PropertyTags                           = "TAGS"
	PropertyWaitStoreMsgOK                 = "WAIT"
	PropertyDelayTimeLevel                 = "DELAY"
	PropertyRetryTopic                     = "RETRY_TOPIC"
	PropertyRealTopic                      = "REAL_TOPIC"
	PropertyRealQueueID                    = "REAL_QID"
	PropertyTransactionPrepared            = "TRAN_MSG"
	PropertyProducerGroup                  = "PGROUP"
	PropertyMinOffset                      = "MIN_OFFSET"
	PropertyMaxOffset                      = "MAX_OFFSET"
	PropertyBuyerID                        = "BUYER_ID"
	PropertyOriginMessageID                = "ORIGIN_MESSAGE_ID"
	PropertyTransferFlag                   = "TRANSFER_FLAG"
	PropertyCorrectionFlag                 = "CORRECTION_FLAG"
	PropertyMQ2Flag                        = "MQ2_FLAG"
	PropertyReconsumeTime                  = "RECONSUME_TIME"
	PropertyMsgRegion                      = "MSG_REGION"
	PropertyTraceSwitch                    = "TRACE_ON"
	PropertyUniqKey                        = "UNIQ_KEY" // PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX
	PropertyMaxReconsumeTimes              = "MAX_RECONSUME_TIMES"
	PropertyConsumeStartTimestamp          = "CONSUME_START_TIME"
	PropertyTransactionPreparedQueueOffset = "TRAN_PREPARED_QUEUE_OFFSET"
	PropertyTransactionCheckTimes          = "TRANSACTION_CHECK_TIMES"
	PropertyCheckImmunityTimeInSeconds     = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropertyInstanceID                     = "INSTANCE_ID"
	PropertyCorrelationID                  = "CORRELATION_ID"
	PropertyMessageReplyToClient           = "REPLY_TO_CLIENT"
	PropertyMessageTTL                     = "TTL"
	PropertyReplyMessageArriveTime         = "ARRIVE_TIME"
	PropertyPushReplyTime                  = "PUSH_REPLY_TIME"
	PropertyCluster                        = "CLUSTER"
	PropertyMessageType                    = "MSG_TYPE"
	PropertyInnerMultiDispatch             = "INNER_MULTI_DISPATCH"
	PropertyInnerMultiQueueOffset          = "INNER_MULTI_QUEUE_OFFSET"
)

// KeySeparator joins the keys of a message in its KEYS property.
const KeySeparator = " "

// IsSystemProperty reports whether name is reserved for the system: Java's
// MessageConst.STRING_HASH_SET, which Message.putUserProperty refuses. (As in Java,
// TRAN_PREPARED_QUEUE_OFFSET, TRANSACTION_CHECK_TIMES, CHECK_IMMUNITY_TIME_IN_SECONDS and
// INNER_MULTI_DISPATCH are not in it.)
func IsSystemProperty(name string) bool {
	switch name {
	case PropertyTraceSwitch, PropertyMsgRegion, PropertyKeys, PropertyTags,
		PropertyWaitStoreMsgOK, PropertyDelayTimeLevel, PropertyRetryTopic, PropertyRealTopic,
		PropertyRealQueueID, PropertyTransactionPrepared, PropertyProducerGroup,
		PropertyMinOffset, PropertyMaxOffset, PropertyBuyerID, PropertyOriginMessageID,
		PropertyTransferFlag, PropertyCorrectionFlag, PropertyMQ2Flag, PropertyReconsumeTime,
		PropertyUniqKey, PropertyMaxReconsumeTimes, PropertyConsumeStartTimestamp,
		PropertyInstanceID, PropertyCorrelationID, PropertyMessageReplyToClient,
		PropertyMessageTTL, PropertyReplyMessageArriveTime, PropertyPushReplyTime,
		PropertyCluster, PropertyMessageType, PropertyInnerMultiQueueOffset:
		return true
	}
	return false
}
