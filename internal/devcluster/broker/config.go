package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster/faults"
	"github.com/mqgate/mqgate/internal/devcluster/store"
)

// Config configures a Broker. The zero value is usable: Validate fills in the defaults of
// Apache RocketMQ 4.9.4's BrokerConfig, except where a dev cluster is better served (noted).
type Config struct {
	ListenAddr string // default "127.0.0.1:0"
	// Listener, when set, is served instead of binding ListenAddr (a caller that needs the
	// port first binds it). The broker closes it at Shutdown. The store needs no host: the
	// broker names itself as the store host of every message it stores.
	Listener net.Listener
	// AdvertisedAddr is the address registered with the NameServers and written into
	// message ids; default the bound address.
	AdvertisedAddr string
	NameServers    []string
	ClusterName    string // default "DefaultCluster"
	BrokerName     string // default "broker-a"

	// DefaultQueues is the queue count of TBW102 and so the most an auto-created topic
	// gets (Java: defaultTopicQueueNums 8); default 8.
	DefaultQueues int
	// AutoCreateTopic lets a send to an unknown topic create it from TBW102, as
	// autoCreateTopicEnable (default true).
	AutoCreateTopic *bool
	// AutoCreateSubscriptionGroup creates the subscription group of an unknown consumer
	// group on first use, as autoCreateSubscriptionGroup (default true); without it a pull
	// of an unknown group answers SUBSCRIPTION_GROUP_NOT_EXIST.
	AutoCreateSubscriptionGroup *bool
	// Store is the message store. Opening it is the caller's: a restart in place hands the
	// same store to a new Broker, as a restarted Java broker finds its files.
	Store *store.Store
	// The largest body accepted (maxMessageSize) and the delay levels
	// (messageDelayLevel) are the store's (store.Config): one table for the delivery
	// times the store writes and the delay service that waits for them.

	// DataDir, when set, keeps topics, consumer offsets and delay progress in JSON files
	// there (Java's config/*.json: topics.json, subscriptionGroup.json,
	// consumerOffset.json, delayOffset.json); empty keeps them in memory only.
	DataDir string

	// The transaction and ACL settings below are read by the extensions that implement
	// those features (see extension.go).

	TransactionTimeout       time.Duration // a half message older than this is checked; default 6s
	TransactionCheckInterval time.Duration // default 60s
	TransactionCheckMax      int           // checks before a half message is dropped; default 15

	RegisterInterval time.Duration // registration with the NameServers; default 30s
	ChannelExpiry    time.Duration // a client silent this long is dropped; default 120s
	LockExpiry       time.Duration // queue locks of orderly consumers; default 60s

	// ACL, when set, turns on access control (aclEnable=true with this plain_acl config).
	ACL *ACLConfig

	// Faults, when set, wraps every request handler.
	Faults *faults.Injector
	Logger *slog.Logger
	// Clock gives the time of timestamps and expiries (client channels, queue locks, data
	// versions, delivery times of delayed messages, ages of half messages); default
	// time.Now. Long-poll deadlines follow the real clock.
	Clock func() time.Time
	// Timers makes the timers of the delay and transaction-check services; default
	// clock.Real. A test passes a clock.Fake, with its Now as Clock and as the store's
	// clock, to run a 2 h delay in microseconds.
	Timers clock.Clock
}

// Validate applies the defaults and reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("broker: config: no store")
	}
	if c.ListenAddr == "" && c.Listener == nil {
		c.ListenAddr = "127.0.0.1:0"
	}
	if c.ClusterName == "" {
		c.ClusterName = "DefaultCluster"
	}
	if c.BrokerName == "" {
		c.BrokerName = "broker-a"
	}
	if c.DefaultQueues == 0 {
		c.DefaultQueues = 8
	}
	if c.AutoCreateTopic == nil {
		c.AutoCreateTopic = ptr(true)
	}
	if c.AutoCreateSubscriptionGroup == nil {
		c.AutoCreateSubscriptionGroup = ptr(true)
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 6 * time.Second
	}
	if c.TransactionCheckInterval == 0 {
		c.TransactionCheckInterval = 60 * time.Second
	}
	if c.TransactionCheckMax == 0 {
		c.TransactionCheckMax = 15
	}
	if c.RegisterInterval == 0 {
		c.RegisterInterval = 30 * time.Second
	}
	if c.ChannelExpiry == 0 {
		c.ChannelExpiry = 120 * time.Second
	}
	if c.LockExpiry == 0 {
		c.LockExpiry = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Timers == nil {
		c.Timers = clock.Real
	}
	switch {
	case c.DefaultQueues < 0 || c.DefaultQueues > 1024:
		return fmt.Errorf("broker: config: default queues %d out of 1..1024", c.DefaultQueues)
	case c.RegisterInterval < 0 || c.ChannelExpiry < 0 || c.LockExpiry < 0:
		return errors.New("broker: config: negative interval")
	case c.TransactionTimeout < 0 || c.TransactionCheckInterval < 0 || c.TransactionCheckMax < 0:
		return errors.New("broker: config: negative transaction setting")
	}
	if c.AdvertisedAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertisedAddr); err != nil {
			return fmt.Errorf("broker: config: advertised address %q: %w", c.AdvertisedAddr, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// ACLConfig is the content of Java's plain_acl.yml that the broker uses.
type ACLConfig struct {
	GlobalWhiteRemoteAddresses []string
	Accounts                   []ACLAccount
}

// ACLAccount is one entry of plain_acl.yml's accounts.
type ACLAccount struct {
	AccessKey          string
	SecretKey          string
	WhiteRemoteAddress string
	Admin              bool
	DefaultTopicPerm   string // "DENY", "PUB", "SUB", "PUB|SUB"
	DefaultGroupPerm   string
	TopicPerms         []string // "topicA=DENY", "topicB=PUB|SUB"
	GroupPerms         []string
}
