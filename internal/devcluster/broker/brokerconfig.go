package broker

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/javaconf"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// GET_BROKER_CONFIG and UPDATE_BROKER_CONFIG: AdminBrokerProcessor.getBrokerConfig and
// updateBrokerConfig over Java's Configuration, which mqadmin getBrokerConfig and
// updateBrokerConfig use.
//
// The keys are the Java broker's (brokerConfigKeys). An update takes, as Java's
// Configuration.update does, the keys it knows, each parsed as its field's type (a number
// that does not parse, an enum constant that does not exist and an unknown key leave
// things as they were), and bumps the configuration's data version. Java 4.9.4 refuses no
// known key (the config blacklist came later). A dev broker acts on the changes that mean
// something to it at run time: brokerPermission (registered topics' perm and pulls,
// re-registered at once as in Java), autoCreateTopicEnable and
// autoCreateSubscriptionGroup. Every other change is only shown back, as a Java broker
// shows the ones it reads only at start.

// brokerSettings is the broker's Configuration: the values updated since the start and
// the data version (GetBrokerConfigResponseHeader.version).
type brokerSettings struct {
	mu      sync.Mutex
	updated map[string]string
	version remoting.DataVersion
}

// ownConfigValue is the value of a key the dev broker has of its own; ok false for the
// keys it takes Java's defaults for, omit true for a null Java leaves out.
func (b *Broker) ownConfigValue(key string) (value string, ok, omit bool) {
	host, port, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(port)
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	switch key {
	case "brokerName":
		return b.cfg.BrokerName, true, false
	case "brokerClusterName":
		return b.cfg.ClusterName, true, false
	case "brokerIP1", "brokerIP2":
		return host, true, false
	case "listenPort":
		return strconv.Itoa(p), true, false
	case "haListenPort":
		return strconv.Itoa(p + 1), true, false
	case "namesrvAddr":
		return strings.Join(b.cfg.NameServers, ";"), true, len(b.cfg.NameServers) == 0
	case "storePathRootDir":
		return b.storeRootDir(), true, false
	case "storePathCommitLog":
		return filepath.Join(b.storeRootDir(), "commitlog"), true, false
	case "rocketmqHome": // System.getenv("ROCKETMQ_HOME"), null when unset
		home := os.Getenv("ROCKETMQ_HOME")
		return home, true, home == ""
	case "brokerPermission":
		return strconv.Itoa(int(b.permission.Load())), true, false
	case "autoCreateTopicEnable":
		return strconv.FormatBool(b.autoCreateTopic.Load()), true, false
	case "autoCreateSubscriptionGroup":
		return strconv.FormatBool(b.autoCreateGroup.Load()), true, false
	case "defaultTopicQueueNums":
		return strconv.Itoa(b.cfg.DefaultQueues), true, false
	case "maxMessageSize":
		return strconv.Itoa(b.maxMsgSize), true, false
	case "messageDelayLevel":
		return formatDelayLevels(b.store.DelayLevels()), true, false
	case "aclEnable":
		return strconv.FormatBool(b.aclEnabled), true, false
	case "transactionTimeOut":
		return ms(b.cfg.TransactionTimeout), true, false
	case "transactionCheckInterval":
		return ms(b.cfg.TransactionCheckInterval), true, false
	case "transactionCheckMax":
		return strconv.Itoa(b.cfg.TransactionCheckMax), true, false
	case "registerNameServerPeriod":
		return ms(b.cfg.RegisterInterval), true, false
	}
	return "", false, false
}

// formatDelayLevels writes the delay levels as messageDelayLevel does; a level that is no
// whole second (a scaled dev cluster's) is written in milliseconds.
func formatDelayLevels(levels []time.Duration) string {
	parts := make([]string, len(levels))
	for i, d := range levels {
		switch {
		case d%(24*time.Hour) == 0:
			parts[i] = strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
		case d%time.Hour == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Hour), 10) + "h"
		case d%time.Minute == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Minute), 10) + "m"
		case d%time.Second == 0:
			parts[i] = strconv.FormatInt(int64(d/time.Second), 10) + "s"
		default:
			parts[i] = strconv.FormatInt(d.Milliseconds(), 10) + "ms"
		}
	}
	return strings.Join(parts, " ")
}

// handleGetBrokerConfig is getBrokerConfig: Configuration.getAllConfigsFormatString, one
// "key=value" line per non-null value, and the data version in the header.
func (b *Broker) handleGetBrokerConfig(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	b.settings.mu.Lock()
	body := javaconf.Format(brokerConfigKeys, b.ownConfigValue, func(name string) (string, bool) {
		v, ok := b.settings.updated[name]
		return v, ok && !isLiveConfig(name) // a live key's own value is its state
	})
	version := b.settings.version
	b.settings.mu.Unlock()
	resp := response(req, remoting.Success, "")
	resp.Header = configVersion(version)
	resp.Body = body
	return resp
}

// isLiveConfig names the keys read from the broker's state rather than the updates.
func isLiveConfig(key string) bool {
	return key == "brokerPermission" || key == "autoCreateTopicEnable" || key == "autoCreateSubscriptionGroup"
}

// handleUpdateBrokerConfig is updateBrokerConfig: the body is a properties text; none
// changes nothing (not even the version).
func (b *Broker) handleUpdateBrokerConfig(ctx context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	if req.Body == nil {
		return response(req, remoting.Success, "")
	}
	props, changed := javaconf.Update(brokerConfigKeys, string(req.Body))
	b.settings.mu.Lock()
	if b.settings.updated == nil {
		b.settings.updated = map[string]string{}
	}
	maps.Copy(b.settings.updated, changed)
	for name, v := range changed {
		switch name {
		case "brokerPermission":
			n, _ := strconv.ParseInt(v, 10, 32)
			b.permission.Store(int32(n))
		case "autoCreateTopicEnable":
			b.autoCreateTopic.Store(v == "true")
		case "autoCreateSubscriptionGroup":
			b.autoCreateGroup.Store(v == "true")
		}
	}
	b.settings.version = remoting.DataVersion{Counter: b.settings.version.Counter + 1, Timestamp: b.now().UnixMilli()}
	b.settings.mu.Unlock()
	b.log.Info("broker: config updated", "properties", props)
	if _, ok := props["brokerPermission"]; ok {
		b.topics.mu.Lock()
		b.topics.nextVersion()
		b.topics.mu.Unlock()
		b.registerAll(ctx, false)
	}
	return response(req, remoting.Success, "")
}

// configVersion is GetBrokerConfigResponseHeader: the DataVersion as fastjson writes it.
type configVersion remoting.DataVersion

func (v configVersion) EncodeFields(w *remoting.FieldWriter) {
	w.String("version", fmt.Sprintf(`{"counter":%d,"timestamp":%d}`, v.Counter, v.Timestamp))
}
