package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/telemetry"
)

// Defaults of the settings the gateway owns. The producer's and the instance's own
// settings default to zero, which lets those packages apply their defaults (Java's).
const (
	DefaultHTTPListen        = "127.0.0.1:8080"
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxBatch          = 256
	DefaultProducerGroup     = "mqgate_gateway"
	DefaultDevNameServer     = "127.0.0.1:9876"
	DefaultDevBroker         = "127.0.0.1:10911"

	// requestOverhead is what a request may hold beyond its base64-encoded bodies: field
	// names, tags, keys and properties (whose encoding a message.Validate bounds at 32 KiB
	// per message), JSON escapes.
	requestOverhead = 256 << 10
)

// Config configures a Gateway: gateway.toml as Load decodes it, or built in code. Every
// field's zero value is usable; Validate, called once by New, applies the defaults.
type Config struct {
	HTTP     HTTPConfig     `toml:"http"`
	Client   ClientConfig   `toml:"client"`
	Producer ProducerConfig `toml:"producer"`
	Dev      DevConfig      `toml:"dev"`

	// Plugins and the admin API (config_plugins.go).
	Admin   AdminConfig    `toml:"admin"`
	Plugins PluginsConfig  `toml:"plugins"`
	Plugin  []PluginConfig `toml:"plugin"`

	// Consumers are the consumer groups delivered to applications (config_consumers.go).
	Consumers []ConsumerConfig `toml:"consumer"`

	// Telemetry and logs (telemetry.go, logging.go).
	Telemetry telemetry.Config `toml:"telemetry"`
	Log       LogConfig        `toml:"log"`

	Logger *slog.Logger `toml:"-"` // default slog.Default()

	// keyPos is where the file set each key, "gateway.toml:6" by dotted path
	// ("telemetry.sample_ratio"), for Validate's errors; set by Parse.
	keyPos map[string]string
}

// HTTPConfig is the [http] section: the HTTP API's server.
type HTTPConfig struct {
	// Listen is the address the API serves on; default DefaultHTTPListen. Port 0 picks a
	// free one (see Gateway.Addr).
	Listen            string        `toml:"listen"`
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"` // default 10s
	// ReadTimeout bounds reading a whole request, body included, so that a client
	// trickling its body cannot hold a connection (and a drain) forever; default 1m.
	ReadTimeout time.Duration `toml:"read_timeout"`
	IdleTimeout time.Duration `toml:"idle_timeout"` // keep-alive; default 2m
	// ShutdownTimeout bounds a graceful shutdown (cmd/gateway on SIGTERM): in-flight
	// requests finishing, then the consumers draining their webhook POSTs, the producer
	// and the instance; and stopping a consumer (DELETE, reload). Default 30s.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// MaxBatch is the most messages one batch request may hold; default 256.
	MaxBatch int `toml:"max_batch"`
	// MaxRequestBytes bounds a request body; default: the base64 encoding of a message of
	// producer.max_message_size bytes plus 256 KiB, so that any message the producer
	// accepts fits in a request. Larger requests get 413.
	MaxRequestBytes int64 `toml:"max_request_bytes"`
}

// ClientConfig is the [client] section: the RocketMQ client instance.
type ClientConfig struct {
	// NameServers are the NameServer addresses, host:port. NameServerURL, when set, is an
	// address server answering "host:port;host:port" (Java's TopAddressing). One of the
	// two is required, unless the dev cluster runs, which replaces both.
	NameServers   []string `toml:"namesrv"`
	NameServerURL string   `toml:"namesrv_url"`

	ClientIP     string `toml:"client_ip"`     // default: the first non-loopback IPv4 address
	InstanceName string `toml:"instance_name"` // default: "<pid>#<nanoseconds>"
	// Serialize is the header serialization of requests: "ROCKETMQ" (default) or "JSON".
	Serialize              string        `toml:"serialize"`
	RequestTimeout         time.Duration `toml:"request_timeout"`       // default 3s
	PollNameServerInterval time.Duration `toml:"poll_namesrv_interval"` // route refresh; default 30s
	HeartbeatInterval      time.Duration `toml:"heartbeat_interval"`    // default 30s

	ACL ACLConfig `toml:"acl"`
}

// ACLConfig is the [client.acl] section: Apache RocketMQ's plain ACL credentials. When
// AccessKey is set every request is signed (instance.NewACLHook). A value written
// "${NAME}" in the file is read from the environment variable NAME (see Load).
type ACLConfig struct {
	AccessKey     string `toml:"access_key"`
	SecretKey     string `toml:"secret_key"`
	SecurityToken string `toml:"security_token"`
}

// ProducerConfig is the [producer] section: the gateway's one producer group. Zero values
// take the producer package's defaults (Java's), except where noted.
type ProducerConfig struct {
	Group       string        `toml:"group"` // default DefaultProducerGroup
	SendTimeout time.Duration `toml:"send_timeout"`
	// Retries is how many times a failed send is sent again (to another broker when there
	// is one); nil takes the producer's default, 2, and 0 means never.
	Retries            *int `toml:"retries"`
	RetryAnotherBroker bool `toml:"retry_another_broker"`
	// MaxMessageSize bounds a message body, and a batch's encoding; default 4 MiB
	// (message.DefaultMaxBodySize). The HTTP API refuses larger ones with 413.
	MaxMessageSize int `toml:"max_message_size"`
	// CompressThreshold: bodies of at least this many bytes are sent compressed; 0 takes
	// the producer's default (4 KiB), a negative value never compresses.
	CompressThreshold     int    `toml:"compress_threshold"`
	CompressLevel         int    `toml:"compress_level"`
	DefaultTopicQueues    int    `toml:"default_topic_queues"`
	CreateTopicKey        string `toml:"create_topic_key"`
	LatencyFaultTolerance bool   `toml:"latency_fault_tolerance"`
	Namespace             string `toml:"namespace"`

	Coalesce CoalesceConfig `toml:"coalesce"`

	// Hooks see every message sent (instance.SendHook): set in code, by the plugin host,
	// not in the file.
	Hooks []instance.SendHook `toml:"-"`
}

// CoalesceConfig is the [producer.coalesce] section: concurrent single sends to one queue
// go to the broker as one batch (each caller still gets its own id and offset). The
// gateway turns it on by default: a broker accepts several times more messages in
// batches than one by one.
type CoalesceConfig struct {
	Enabled     *bool         `toml:"enabled"` // default true
	MaxMessages int           `toml:"max_messages"`
	MaxBytes    int           `toml:"max_bytes"`
	Linger      time.Duration `toml:"linger"`
}

// DevConfig is the [dev] section: the embedded dev cluster (package internal/devcluster),
// a NameServer and a broker on real ports, started with the gateway when Enabled (the
// --dev flag). The instance is then pointed at it, whatever [client] says.
type DevConfig struct {
	Enabled          bool   `toml:"enabled"`
	NameServerListen string `toml:"namesrv_listen"` // default DefaultDevNameServer
	BrokerListen     string `toml:"broker_listen"`  // default DefaultDevBroker
	// DataDir keeps the commit log there; empty keeps messages in memory.
	DataDir         string  `toml:"data_dir"`
	AutoCreateTopic *bool   `toml:"auto_create_topic"` // default true
	QueuesPerTopic  int     `toml:"queues"`            // default 8
	DelayFactor     float64 `toml:"delay_factor"`      // default 1 (Java's delay levels)
}

// Validate applies the defaults and reports every setting that cannot work, naming it as
// gateway.toml does.
func (c *Config) Validate() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, badSetting(key, format, args...)) }
	if err := c.Telemetry.ApplyEnv(); err != nil {
		key := "" // an OTEL_* variable's: not the file's
		if se := (*telemetry.SettingError)(nil); errors.As(err, &se) {
			key = "telemetry." + se.Key
		}
		bad(key, "[telemetry] %v", err)
	}
	errs = append(errs, c.Log.validate()...)

	h := &c.HTTP
	if h.Listen == "" {
		h.Listen = DefaultHTTPListen
	}
	if err := checkListen(h.Listen); err != nil {
		bad("http.listen", "[http] listen: %v", err)
	}
	durations := []struct {
		table, name string
		v           *time.Duration
		def         time.Duration
	}{
		{"http", "read_header_timeout", &h.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{"http", "read_timeout", &h.ReadTimeout, DefaultReadTimeout},
		{"http", "idle_timeout", &h.IdleTimeout, DefaultIdleTimeout},
		{"http", "shutdown_timeout", &h.ShutdownTimeout, DefaultShutdownTimeout},
		{"client", "request_timeout", &c.Client.RequestTimeout, 0},
		{"client", "poll_namesrv_interval", &c.Client.PollNameServerInterval, 0},
		{"client", "heartbeat_interval", &c.Client.HeartbeatInterval, 0},
		{"producer", "send_timeout", &c.Producer.SendTimeout, 0},
		{"producer.coalesce", "linger", &c.Producer.Coalesce.Linger, 0},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			bad(d.table+"."+d.name, "[%s] %s: %v is negative", d.table, d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if h.MaxBatch == 0 {
		h.MaxBatch = DefaultMaxBatch
	} else if h.MaxBatch < 0 {
		bad("http.max_batch", "[http] max_batch: %d is negative", h.MaxBatch)
	}

	p := &c.Producer
	if p.Group == "" {
		p.Group = DefaultProducerGroup
	}
	if err := message.ValidateGroup(p.Group); err != nil {
		bad("producer.group", "[producer] group: %v", err)
	}
	if p.MaxMessageSize == 0 {
		p.MaxMessageSize = message.DefaultMaxBodySize
	} else if p.MaxMessageSize < 0 {
		bad("producer.max_message_size", "[producer] max_message_size: %d is negative", p.MaxMessageSize)
	}
	if p.Retries != nil && *p.Retries < 0 {
		bad("producer.retries", "[producer] retries: %d is negative", *p.Retries)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"default_topic_queues", p.DefaultTopicQueues},
		{"coalesce.max_messages", p.Coalesce.MaxMessages}, {"coalesce.max_bytes", p.Coalesce.MaxBytes}} {
		if n.v < 0 {
			bad("producer."+n.name, "[producer] %s: %d is negative", n.name, n.v)
		}
	}
	if p.CompressLevel < 0 || p.CompressLevel > 9 {
		bad("producer.compress_level", "[producer] compress_level: %d is not a zlib level (0 for the default, 1..9)", p.CompressLevel)
	}
	if p.Coalesce.Enabled == nil {
		p.Coalesce.Enabled = ptr(true)
	}
	if h.MaxRequestBytes == 0 {
		h.MaxRequestBytes = int64(base64.StdEncoding.EncodedLen(max(p.MaxMessageSize, 0))) + requestOverhead
	} else if h.MaxRequestBytes < 0 {
		bad("http.max_request_bytes", "[http] max_request_bytes: %d is negative", h.MaxRequestBytes)
	}

	errs = append(errs, c.Client.validate(c.Dev.Enabled)...)
	errs = append(errs, c.Dev.validate()...)
	errs = append(errs, c.validatePlugins()...)
	errs = append(errs, c.validateConsumers()...)
	if err := errors.Join(c.positioned(errs)...); err != nil {
		return fmt.Errorf("gateway config: %w", err)
	}
	return nil
}

func (c *ClientConfig) validate(dev bool) []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, badSetting(key, format, args...)) }
	if !dev && len(c.NameServers) == 0 && c.NameServerURL == "" {
		bad("client", "[client]: no NameServer: set namesrv (or namesrv_url), or run the dev cluster (--dev)")
	}
	for i, a := range c.NameServers {
		if err := checkHostPort(a, false); err != nil {
			bad("client.namesrv", "[client] namesrv[%d]: %v", i, err)
		}
	}
	if c.NameServerURL != "" {
		u, err := url.Parse(c.NameServerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("client.namesrv_url", "[client] namesrv_url: %q is not an http(s) URL", c.NameServerURL)
		}
	}
	if c.ClientIP != "" {
		if _, err := netip.ParseAddr(c.ClientIP); err != nil {
			bad("client.client_ip", "[client] client_ip: %q is not an IP address", c.ClientIP)
		}
	}
	switch s := strings.ToUpper(c.Serialize); s {
	case "":
	case "ROCKETMQ", "JSON":
		c.Serialize = s
	default:
		bad("client.serialize", "[client] serialize: %q: want ROCKETMQ or JSON", c.Serialize)
	}
	a := c.ACL
	if (a.AccessKey == "") != (a.SecretKey == "") {
		bad("client.acl", "[client.acl]: access_key and secret_key go together")
	}
	if a.SecurityToken != "" && a.AccessKey == "" {
		bad("client.acl", "[client.acl]: security_token without access_key")
	}
	return errs
}

func (d *DevConfig) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, badSetting(key, format, args...)) }
	if d.NameServerListen == "" {
		d.NameServerListen = DefaultDevNameServer
	}
	if d.BrokerListen == "" {
		d.BrokerListen = DefaultDevBroker
	}
	if d.AutoCreateTopic == nil {
		d.AutoCreateTopic = ptr(true)
	}
	if d.QueuesPerTopic == 0 {
		d.QueuesPerTopic = 8
	}
	if d.DelayFactor == 0 {
		d.DelayFactor = 1
	}
	if !d.Enabled {
		return nil // the rest only matters to a cluster that runs
	}
	if err := checkListen(d.NameServerListen); err != nil {
		bad("dev.namesrv_listen", "[dev] namesrv_listen: %v", err)
	}
	if err := checkListen(d.BrokerListen); err != nil {
		bad("dev.broker_listen", "[dev] broker_listen: %v", err)
	}
	if d.QueuesPerTopic < 1 || d.QueuesPerTopic > 1024 {
		bad("dev.queues", "[dev] queues: %d is out of 1..1024", d.QueuesPerTopic)
	}
	if d.DelayFactor < 0 {
		bad("dev.delay_factor", "[dev] delay_factor: %v is negative", d.DelayFactor)
	}
	return errs
}

// settingError is a setting that does not validate, with its dotted key path as the file
// writes it ("http.shutdown_timeout"), by which Validate names the file and line that set it.
type settingError struct {
	key string
	err error
}

func (e *settingError) Error() string { return e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

func badSetting(key, format string, args ...any) error {
	return &settingError{key: key, err: fmt.Errorf(format, args...)}
}

// positioned puts before each settingError the file position of its key, when the file set
// it (a Config built in code has none, a default value no line).
func (c *Config) positioned(errs []error) []error {
	for i, err := range errs {
		if se, ok := err.(*settingError); ok {
			if pos := c.keyPos[se.key]; pos != "" {
				errs[i] = fmt.Errorf("%s: %w", pos, err)
			}
		}
	}
	return errs
}

// checkListen checks a listen address: host:port, the host possibly empty, port 0 allowed.
func checkListen(a string) error { return checkHostPort(a, true) }

func checkHostPort(a string, listen bool) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err // "address x: missing port in address"
	}
	if host == "" && !listen {
		return fmt.Errorf("address %q has no host", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !listen) {
		return fmt.Errorf("address %q: bad port %q", a, port)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
