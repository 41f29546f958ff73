package instance

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/remoting"
)

func TestConfigValidateAppliesDefaults(t *testing.T) {
	fc := clock.NewFake(epoch)
	cfg := Config{NameServers: []string{"127.0.0.1:9876"}, Clock: fc}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"serialize", cfg.serialize, remoting.RocketMQ},
		{"Serialize", cfg.Serialize, "ROCKETMQ"},
		{"language", cfg.language, remoting.LanguageGo},
		{"Version", cfg.Version, remoting.Version494},
		{"RequestTimeout", cfg.RequestTimeout, 3 * time.Second},
		{"PollNameServerInterval", cfg.PollNameServerInterval, 30 * time.Second},
		{"HeartbeatInterval", cfg.HeartbeatInterval, 30 * time.Second},
		{"PersistOffsetInterval", cfg.PersistOffsetInterval, 5 * time.Second},
		{"FetchNameServerInterval", cfg.FetchNameServerInterval, 2 * time.Minute},
		{"Transport.RequestTimeout", cfg.Transport.RequestTimeout, 2 * time.Minute},
		{"InstanceName", cfg.InstanceName, strconv.Itoa(os.Getpid()) + "#" + strconv.FormatInt(epoch.UnixNano(), 10)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, err := netip.ParseAddr(cfg.ClientIP); err != nil {
		t.Errorf("default ClientIP %q: %v", cfg.ClientIP, err)
	}
	if cfg.Logger == nil || cfg.Transport.Logger == nil {
		t.Error("loggers not defaulted")
	}
}

func TestConfigValidateRefuses(t *testing.T) {
	ok := func() Config { return Config{NameServers: []string{"127.0.0.1:9876"}, Logger: discard} }
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no NameServer at all", func(c *Config) { c.NameServers = nil }, "no NameServer"},
		{"a NameServer without port", func(c *Config) { c.NameServers = []string{"127.0.0.1"} }, "NameServers[0]"},
		{"a NameServer with a bad port", func(c *Config) { c.NameServers = []string{"h:99999"} }, "bad port"},
		{"an address server that is not http", func(c *Config) { c.NameServerAddressURL = "ftp://x/y" }, "NameServerAddressURL"},
		{"an unknown serialization", func(c *Config) { c.Serialize = "XML" }, "Serialize"},
		{"an unknown language", func(c *Config) { c.Language = "COBOL" }, "Language"},
		{"a negative version", func(c *Config) { c.Version = -1 }, "Version"},
		{"a negative interval", func(c *Config) { c.HeartbeatInterval = -time.Second }, "HeartbeatInterval"},
		{"a nil RPC hook", func(c *Config) { c.RPCHooks = []RPCHook{nil} }, "RPCHooks[0]"},
		{"a client IP that is no IP", func(c *Config) { c.ClientIP = "host" }, "ClientIP"},
		{"a client id with spaces", func(c *Config) { c.ClientID = " x" }, "ClientID"},
		{"a bad transport setting", func(c *Config) { c.Transport.MaxFrameLength = -1 }, "Transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok()
			tt.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
			if _, err := New(cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestConfigAcceptsJSONAndOtherLanguagesInAnyCase(t *testing.T) {
	cfg := Config{NameServers: []string{"127.0.0.1:9876"}, Serialize: "json", Language: "java", Logger: discard}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.serialize != remoting.JSON || cfg.language != remoting.LanguageJava || cfg.Serialize != "JSON" || cfg.Language != "JAVA" {
		t.Errorf("got %v %v %q %q", cfg.serialize, cfg.language, cfg.Serialize, cfg.Language)
	}
}

func TestClientID(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ip@instance name", Config{ClientIP: "10.1.2.3", InstanceName: "gw"}, "10.1.2.3@gw"},
		{"an explicit client id wins", Config{ClientIP: "10.1.2.3", InstanceName: "gw", ClientID: "mine"}, "mine"},
		{"DEFAULT becomes pid#nanos as Java's changeInstanceNameToPID", Config{ClientIP: "10.1.2.3", Clock: clock.NewFake(epoch)},
			fmt.Sprintf("10.1.2.3@%d#%d", os.Getpid(), epoch.UnixNano())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.NameServers, cfg.Logger = []string{"127.0.0.1:9876"}, discard
			i, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := i.ClientID(); got != tt.want {
				t.Errorf("ClientID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPickLocalAddressAsJavaGetLocalAddress(t *testing.T) {
	a := func(ss ...string) (out []netip.Addr) {
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name   string
		v4, v6 []netip.Addr
		want   string
	}{
		{"first IPv4 outside 127.0 and 192.168", a("192.168.1.2", "10.0.0.5", "172.16.0.1"), nil, "10.0.0.5"},
		{"else the last IPv4", a("192.168.1.2", "192.168.7.7"), nil, "192.168.7.7"},
		{"else the first IPv6", nil, a("fe80::1", "2001:db8::1"), "fe80::1"},
		{"else localhost", nil, nil, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickLocalAddress(tt.v4, tt.v6); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// An instance's configuration: NameServers and a name are enough; the rest has Java's
// defaults, with ROCKETMQ headers and the GO language code.
func ExampleNew() {
	inst, err := New(Config{
		NameServers:  []string{"127.0.0.1:9876"},
		ClientIP:     "10.0.0.7",
		InstanceName: "gateway-1",
		RPCHooks:     []RPCHook{NewACLHook("RocketMQ", "12345678", "")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := inst.Config()
	fmt.Println(inst.ClientID(), inst.State(), cfg.Serialize, cfg.Language, cfg.Version, cfg.HeartbeatInterval)
	// Output: 10.0.0.7@gateway-1 CREATE_JUST ROCKETMQ GO 401 30s
}
