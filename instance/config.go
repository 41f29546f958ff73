package instance

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
	"github.com/mqgate/mqgate/telemetry"
)

// Defaults, those of Java's ClientConfig in 4.9.4 unless said otherwise.
const (
	DefaultInstanceName            = "DEFAULT"
	DefaultRequestTimeout          = 3 * time.Second  // mqClientApiTimeout
	DefaultPollNameServerInterval  = 30 * time.Second // route refresh
	DefaultHeartbeatInterval       = 30 * time.Second // offline-broker clean-up and heartbeats
	DefaultPersistOffsetInterval   = 5 * time.Second  // consumer offsets
	DefaultFetchNameServerInterval = 2 * time.Minute  // address server
	DefaultSerialize               = "ROCKETMQ"
	DefaultLanguage                = "GO"
	DefaultTransportRequestCeiling = 2 * time.Minute
	defaultAddressServerTimeout    = 3 * time.Second // TopAddressing.fetchNSAddr
)

// Config configures an Instance. The zero value plus NameServers (or NameServerAddressURL)
// is a working configuration: Validate, called once by New, fills in the defaults.
type Config struct {
	// ClientIP is this client's address in its client id (and in the ids of the messages
	// it produces). Default: the first non-loopback IPv4 address, as Java's
	// RemotingUtil.getLocalAddress picks it.
	ClientIP string
	// InstanceName is the second half of the client id. The default, "DEFAULT", is replaced
	// by "<pid>#<nanoseconds>" as Java's changeInstanceNameToPID does, so that two
	// gateways on one host never share a client id.
	InstanceName string
	// ClientID, when set, is used as the client id instead of ClientIP@InstanceName.
	ClientID string

	// NameServers are the NameServer addresses, host:port. NameServerAddressURL, when set,
	// is fetched at Start and every FetchNameServerInterval (Java's TopAddressing: a GET
	// answering "host:port;host:port") and replaces the list when it answers. One of the
	// two is required.
	NameServers          []string
	NameServerAddressURL string

	// Serialize is the header serialization of the requests sent: "ROCKETMQ" (default) or
	// "JSON". Java defaults to JSON; ROCKETMQ is a compact binary header that both 4.x and
	// 5.x brokers read, cheaper to write and to parse on both sides. Brokers answer in the
	// serialization of the request.
	Serialize string
	// Language is the language code the requests carry: "GO" (default) or any name of
	// Java's LanguageCode. A 4.9.4 broker treats only CPP differently (offset reset); GO
	// shows admins (consumer connection lists) what the client really is.
	Language string
	// Version is the client version the requests carry; default remoting.Version494 (401),
	// the protocol this client implements. From it the NameServer decides to write routes
	// as standard JSON, and brokers to honour maxReconsumeTimes on retries.
	Version int32

	// RequestTimeout bounds a call whose context has no deadline (Java's
	// mqClientApiTimeout). A context deadline, shorter or longer, always wins, up to
	// Transport.RequestTimeout.
	RequestTimeout time.Duration

	// Intervals of the periodic tasks.
	PollNameServerInterval  time.Duration // route refresh of every topic in use; 30s
	HeartbeatInterval       time.Duration // offline-broker clean-up and heartbeats; 30s
	PersistOffsetInterval   time.Duration // consumer offsets; 5s
	FetchNameServerInterval time.Duration // address server, when configured; 2m

	// Transport configures the connections. Its RequestTimeout is a ceiling over every
	// call, long-polling pulls included, and defaults to DefaultTransportRequestCeiling;
	// its Logger defaults to Logger.
	Transport netpoll.ClientConfig

	// RPCHooks run around every request, in order (see RPCHook).
	RPCHooks []RPCHook

	// Telemetry, when set, traces and measures the remoting calls (telemetry.go); nil is off.
	Telemetry *telemetry.Instruments

	Logger *slog.Logger // default slog.Default()
	Clock  clock.Clock  // default clock.Real

	// Resolved by Validate.
	serialize remoting.SerializeType
	language  remoting.LanguageCode
}

// Validate applies the defaults and reports the first invalid setting.
func (c *Config) Validate() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Real
	}
	if c.ClientIP == "" {
		c.ClientIP = LocalAddress()
	} else if _, err := netip.ParseAddr(c.ClientIP); err != nil {
		return fmt.Errorf("instance config: ClientIP %q is not an IP address", c.ClientIP)
	}
	if c.InstanceName == "" {
		c.InstanceName = DefaultInstanceName
	}
	if c.InstanceName == DefaultInstanceName {
		c.InstanceName = strconv.Itoa(os.Getpid()) + "#" + strconv.FormatInt(c.Clock.Now().UnixNano(), 10)
	}
	if strings.TrimSpace(c.ClientID) != c.ClientID {
		return fmt.Errorf("instance config: ClientID %q has surrounding spaces", c.ClientID)
	}

	for i, a := range c.NameServers {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("instance config: NameServers[%d]: %w", i, err)
		}
	}
	if c.NameServerAddressURL != "" {
		u, err := url.Parse(c.NameServerAddressURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("instance config: NameServerAddressURL %q is not an http(s) URL", c.NameServerAddressURL)
		}
	}
	if len(c.NameServers) == 0 && c.NameServerAddressURL == "" {
		return errors.New("instance config: no NameServer: set NameServers or NameServerAddressURL")
	}

	switch strings.ToUpper(c.Serialize) {
	case "", DefaultSerialize:
		c.Serialize, c.serialize = DefaultSerialize, remoting.RocketMQ
	case "JSON":
		c.Serialize, c.serialize = "JSON", remoting.JSON
	default:
		return fmt.Errorf("instance config: Serialize %q: want ROCKETMQ or JSON", c.Serialize)
	}
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	lang, ok := remoting.ParseLanguage(strings.ToUpper(c.Language))
	if !ok {
		return fmt.Errorf("instance config: Language %q is not a RocketMQ language code", c.Language)
	}
	c.Language, c.language = lang.String(), lang
	if c.Version == 0 {
		c.Version = remoting.Version494
	} else if c.Version < 0 {
		return fmt.Errorf("instance config: Version %d is negative", c.Version)
	}

	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RequestTimeout", &c.RequestTimeout, DefaultRequestTimeout},
		{"PollNameServerInterval", &c.PollNameServerInterval, DefaultPollNameServerInterval},
		{"HeartbeatInterval", &c.HeartbeatInterval, DefaultHeartbeatInterval},
		{"PersistOffsetInterval", &c.PersistOffsetInterval, DefaultPersistOffsetInterval},
		{"FetchNameServerInterval", &c.FetchNameServerInterval, DefaultFetchNameServerInterval},
	} {
		if *d.v == 0 {
			*d.v = d.def
		} else if *d.v < 0 {
			return fmt.Errorf("instance config: %s %v is negative", d.name, *d.v)
		}
	}

	if c.Transport.RequestTimeout == 0 {
		c.Transport.RequestTimeout = max(DefaultTransportRequestCeiling, c.RequestTimeout)
	}
	if c.Transport.Logger == nil {
		c.Transport.Logger = c.Logger
	}
	if err := c.Transport.Validate(); err != nil {
		return fmt.Errorf("instance config: Transport: %w", err)
	}
	for i, h := range c.RPCHooks {
		if h == nil {
			return fmt.Errorf("instance config: RPCHooks[%d] is nil", i)
		}
	}
	return nil
}

// clientID returns the configured or derived client id, as Java's buildMQClientId.
func (c *Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return c.ClientIP + "@" + c.InstanceName
}

// checkAddr checks a host:port address.
func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("address %q: %w", a, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", a)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: bad port", a)
	}
	return nil
}

// LocalAddress returns the address Java's RemotingUtil.getLocalAddress picks: among the
// addresses of the interfaces (bridges skipped), not loopback, the first IPv4 one outside
// 127.0/16 and 192.168/16, else the last IPv4 one, else the first IPv6 one, else 127.0.0.1.
func LocalAddress() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	var v4, v6 []netip.Addr
	for _, ifc := range ifaces {
		if isBridge(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(p.IP)
			if !ok || ip.IsLoopback() {
				continue
			}
			if ip = ip.Unmap(); ip.Is4() {
				v4 = append(v4, ip)
			} else {
				v6 = append(v6, ip.WithZone(""))
			}
		}
	}
	return pickLocalAddress(v4, v6)
}

func pickLocalAddress(v4, v6 []netip.Addr) string {
	for _, ip := range v4 {
		s := ip.String()
		if !strings.HasPrefix(s, "127.0") && !strings.HasPrefix(s, "192.168") {
			return s
		}
	}
	if len(v4) > 0 {
		return v4[len(v4)-1].String()
	}
	if len(v6) > 0 {
		return v6[0].String()
	}
	return "127.0.0.1"
}

// isBridge reports a Linux bridge interface, as Java's RemotingUtil.isBridge (the
// directory /sys/class/net/<name>/bridge exists).
func isBridge(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name + "/bridge")
	return err == nil
}
