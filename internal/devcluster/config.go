package devcluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures a Cluster. The zero value is usable: Validate fills in the defaults,
// Java's except where a dev cluster is better served (noted).
type Config struct {
	NameServerAddr string // default "127.0.0.1:0"
	BrokerAddr     string // default "127.0.0.1:0"
	ClusterName    string // default "DefaultCluster"
	BrokerName     string // default "broker-a"

	// QueuesPerTopic is TBW102's queue count and so what an auto-created topic gets
	// (Java's defaultTopicQueueNums); default 8.
	QueuesPerTopic int
	// DataDir keeps the commit log and the broker's config files there, laid out as
	// Java's store root (commitlog/, config/). Empty keeps messages in memory; the
	// broker's small state files (topics, offsets, groups) then go to a temporary
	// directory removed by Close, so that a broker restart keeps them as a Java broker
	// restarting on its disk would.
	DataDir string
	// AutoCreateTopic lets a send to an unknown topic create it (autoCreateTopicEnable);
	// default true.
	AutoCreateTopic *bool
	// DelayFactor scales the delay levels: 1 is Java's 1s ... 2h, 0.01 makes level 1 last
	// 10ms. Default 1.
	DelayFactor float64
	// ACL is the path of a plain_acl.yml; when set the broker checks signatures and
	// permissions (aclEnable=true).
	ACL string

	// RegisterInterval is the broker's registration period. Default 1s rather than
	// Java's 30s: routes come back that soon after a NameServer restart or a dropped
	// connection, which is all a client can observe of it.
	RegisterInterval time.Duration
	// Broker timing knobs, passed through (zero: the broker's defaults, Java's).
	TransactionTimeout       time.Duration // a half message older than this is checked; Java 6s
	TransactionCheckInterval time.Duration // Java 60s
	TransactionCheckMax      int           // Java 15
	ChannelExpiry            time.Duration // a silent client is dropped; Java 120s
	LockExpiry               time.Duration // orderly consumers' queue locks; Java 60s

	// NameServer timing knobs (zero: Java's 120s and 10s).
	BrokerExpiry time.Duration
	ScanInterval time.Duration

	Logger *slog.Logger // default slog.Default()
}

// Validate applies the defaults and reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.NameServerAddr == "" {
		c.NameServerAddr = "127.0.0.1:0"
	}
	if c.BrokerAddr == "" {
		c.BrokerAddr = "127.0.0.1:0"
	}
	if c.ClusterName == "" {
		c.ClusterName = "DefaultCluster"
	}
	if c.BrokerName == "" {
		c.BrokerName = "broker-a"
	}
	if c.QueuesPerTopic == 0 {
		c.QueuesPerTopic = 8
	}
	if c.AutoCreateTopic == nil {
		yes := true
		c.AutoCreateTopic = &yes
	}
	if c.DelayFactor == 0 {
		c.DelayFactor = 1
	}
	if c.RegisterInterval == 0 {
		c.RegisterInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	for _, a := range []struct{ name, addr string }{{"name server", c.NameServerAddr}, {"broker", c.BrokerAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s address %q: %w", a.name, a.addr, err))
		}
	}
	if c.QueuesPerTopic < 1 || c.QueuesPerTopic > 1024 {
		errs = append(errs, fmt.Errorf("queues per topic %d out of 1..1024", c.QueuesPerTopic))
	}
	if c.DelayFactor < 0 {
		errs = append(errs, fmt.Errorf("delay factor %v is negative", c.DelayFactor))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"register interval", c.RegisterInterval}, {"transaction timeout", c.TransactionTimeout},
		{"transaction check interval", c.TransactionCheckInterval}, {"channel expiry", c.ChannelExpiry},
		{"lock expiry", c.LockExpiry}, {"broker expiry", c.BrokerExpiry}, {"scan interval", c.ScanInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if c.TransactionCheckMax < 0 {
		errs = append(errs, fmt.Errorf("transaction check max %d is negative", c.TransactionCheckMax))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devcluster: invalid config: %w", err)
	}
	return nil
}
