// Package broker is the dev cluster's broker: a double of an Apache RocketMQ 4.9.4 master
// broker, faithful in everything a client can observe — response codes, remarks, headers,
// next offsets, the stored form of messages (properties in Java's HashMap order, CLUSTER
// added), notifications to consumers — and fast: a send or a pull allocates next to
// nothing and answers from the goroutine that decoded it.
//
// A Broker serves one store.Store over the remoting transport (package netpoll) and
// registers with its NameServers. It implements, after the Java classes named in each
// file: sending (single, V2, batch; auto-creation of topics from TBW102; retry topics
// moving to the dead letter queue), pulling with tag filters and long polling, consumer
// offsets, heartbeats and the consumer and producer tables with NOTIFY_CONSUMER_IDS_CHANGED,
// orderly queue locks, topic and subscription group configs, registration, and the admin
// requests clients and tools use (mqadmin's clusterList, brokerStatus, getBrokerConfig
// and updateBrokerConfig among them: runtime.go, brokerconfig.go). Topics, subscription
// groups and consumer offsets are kept in Config.DataDir in Java's file formats.
//
// The delay (schedule) service (schedule.go), the consumer send-back (sendback.go),
// transactions with their check service (transaction.go, transaction_check.go) and plain
// ACL (acl.go) plug into the extension points documented in extension.go; without them
// the broker answers as Java's does with those features off. Their state is kept as
// Java keeps it: delay progress in delayOffset.json, half and op messages in the commit
// log with the check's progress as consumer offsets of CID_RMQ_SYS_TRANS.
//
// Where Java's behaviour depends on timing, this broker is quicker, never different in
// kind: a held pull is answered at its deadline (Java checks every 5 s), a delayed
// message when it is due (Java looks every 100 ms), and a topic created by a request is
// registered with the NameServers before the request is answered (Java registers
// oneway, which on loopback amounts to the same).
package broker
