package broker

import (
	"github.com/mqgate/mqgate/remoting"
)

// registerCoreHandlers installs the processors of Java's BrokerController.registerProcessor
// that this broker implements. Codes left out answer REQUEST_CODE_NOT_SUPPORTED (the
// transport's default, Java's remark); the send-back, transaction and delay parts come
// from extensions (extension.go).
func (b *Broker) registerCoreHandlers() {
	// SendMessageProcessor
	b.handle(remoting.SendMessage, b.handleSend)
	b.handle(remoting.SendMessageV2, b.handleSend)
	b.handle(remoting.SendBatchMessage, b.handleSend)
	// PullMessageProcessor
	b.handle(remoting.PullMessage, b.handlePull)
	// QueryMessageProcessor
	b.handle(remoting.QueryMessage, b.handleQueryMessage)
	b.handle(remoting.ViewMessageByID, b.handleViewMessage)
	// ClientManageProcessor
	b.handle(remoting.Heartbeat, b.handleHeartbeat)
	b.handle(remoting.UnregisterClient, b.handleUnregisterClient)
	b.handle(remoting.CheckClientConfig, b.handleCheckClientConfig)
	// ConsumerManageProcessor
	b.handle(remoting.GetConsumerListByGroup, b.handleConsumerList)
	b.handle(remoting.UpdateConsumerOffset, b.handleUpdateConsumerOffset)
	b.handle(remoting.QueryConsumerOffset, b.handleQueryConsumerOffset)
	// AdminBrokerProcessor
	b.handle(remoting.UpdateAndCreateTopic, b.handleCreateTopic)
	b.handle(remoting.DeleteTopicInBroker, b.handleDeleteTopic)
	b.handle(remoting.GetAllTopicConfig, b.handleAllTopicConfig)
	b.handle(remoting.SearchOffsetByTimestamp, b.handleSearchOffset)
	b.handle(remoting.GetMaxOffset, b.handleMaxOffset)
	b.handle(remoting.GetMinOffset, b.handleMinOffset)
	b.handle(remoting.GetEarliestMessageStoreTime, b.handleEarliestStoreTime)
	b.handle(remoting.LockBatchMQ, b.handleLockBatch)
	b.handle(remoting.UnlockBatchMQ, b.handleUnlockBatch)
	b.handle(remoting.UpdateAndCreateSubscriptionGroup, b.handleUpdateGroup)
	b.handle(remoting.GetAllSubscriptionGroupConfig, b.handleAllGroups)
	b.handle(remoting.DeleteSubscriptionGroup, b.handleDeleteGroup)
	b.handle(remoting.GetTopicStatsInfo, b.handleTopicStats)
	b.handle(remoting.GetConsumerConnectionList, b.handleConsumerConnections)
	b.handle(remoting.GetProducerConnectionList, b.handleProducerConnections)
	b.handle(remoting.GetConsumeStats, b.handleConsumeStats)
	b.handle(remoting.GetAllConsumerOffset, b.handleAllConsumerOffsets)
	b.handle(remoting.InvokeBrokerToResetOffset, b.handleResetOffset)
	b.handle(remoting.QueryTopicConsumeByWho, b.handleTopicConsumeByWho)
	b.handle(remoting.GetConsumerRunningInfo, b.handleConsumerRunningInfo)
	b.handle(remoting.ConsumeMessageDirectly, b.handleConsumeMessageDirectly)
	b.handle(remoting.GetBrokerRuntimeInfo, b.handleBrokerRuntimeInfo)
	b.handle(remoting.GetBrokerConfig, b.handleGetBrokerConfig)
	b.handle(remoting.UpdateBrokerConfig, b.handleUpdateBrokerConfig)
	b.handle(remoting.CleanExpiredConsumequeue, b.handleStoreMaintenance)
	b.handle(remoting.DeleteExpiredCommitlog, b.handleStoreMaintenance)
	b.handle(remoting.CleanUnusedTopic, b.handleStoreMaintenance)
	b.handle(remoting.GetBrokerConsumeStats, b.handleBrokerConsumeStats)
	b.handle(remoting.QueryConsumeQueue, b.handleQueryConsumeQueue)
}

// response is RemotingCommand.createResponseCommand as the Java broker sends it: language
// JAVA, version 401 (V4_9_4), whatever the client's; the transport sets the opaque and
// answers in the request's serialization.
func response(req *remoting.Command, code remoting.ResponseCode, remark string) *remoting.Command {
	return &remoting.Command{Code: int32(code), Language: remoting.LanguageJava, Version: remoting.Version494,
		Opaque: req.Opaque, Flag: remoting.FlagResponse, Remark: remark, Serialize: req.Serialize}
}
