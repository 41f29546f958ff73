package gateway

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/message"
)

func noEnv(string) (string, bool) { return "", false }

func TestParseAcceptsGoodFiles(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		check func(t *testing.T, c Config)
	}{
		{"an empty file decodes to the zero config", "", func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("got %+v", c)
			}
		}},
		{"sections and durations", `
[http]
listen = "0.0.0.0:9000"
shutdown_timeout = "1m30s"

[client]
namesrv = ["10.0.0.1:9876", "10.0.0.2:9876"]
serialize = "json"

[producer]
group = "orders"
retries = 0

[producer.coalesce]
enabled = false
linger = "2ms"
`, func(t *testing.T, c Config) {
			if c.HTTP.Listen != "0.0.0.0:9000" || c.HTTP.ShutdownTimeout != 90*time.Second {
				t.Errorf("http: %+v", c.HTTP)
			}
			if !reflect.DeepEqual(c.Client.NameServers, []string{"10.0.0.1:9876", "10.0.0.2:9876"}) || c.Client.Serialize != "json" {
				t.Errorf("client: %+v", c.Client)
			}
			if c.Producer.Group != "orders" || c.Producer.Retries == nil || *c.Producer.Retries != 0 {
				t.Errorf("producer: %+v", c.Producer)
			}
			if c.Producer.Coalesce.Enabled == nil || *c.Producer.Coalesce.Enabled || c.Producer.Coalesce.Linger != 2*time.Millisecond {
				t.Errorf("coalesce: %+v", c.Producer.Coalesce)
			}
		}},
		{"dotted keys, quoted keys and inline tables", `
client.namesrv = ["127.0.0.1:9876"]
"dev" = { enabled = true, 'queues' = 4 }
`, func(t *testing.T, c Config) {
			if len(c.Client.NameServers) != 1 || !c.Dev.Enabled || c.Dev.QueuesPerTopic != 4 {
				t.Errorf("got %+v", c)
			}
		}},
		{"a float field takes an integer", "[dev]\ndelay_factor = 2\n", func(t *testing.T, c Config) {
			if c.Dev.DelayFactor != 2 {
				t.Errorf("delay factor %v", c.Dev.DelayFactor)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("gateway.toml", []byte(tt.toml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseErrorsNameFileLineAndKey(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want string // the whole error, or a regexp when it starts with ^
	}{
		{"unknown key in a section", "[http]\nlisten = \"127.0.0.1:1\"\n\n[client]\nnamesvr = [\"a:1\"]\n",
			`gateway.toml:5: unknown key "namesvr" in [client] (did you mean "namesrv"?)`},
		{"unknown key at the root", "# comment\nverbose = true\n",
			`gateway.toml:2: unknown key "verbose"`},
		{"unknown key in a nested section", "[producer.coalesce]\nenabled = true\nlingr = \"1ms\"\n",
			`gateway.toml:3: unknown key "lingr" in [producer.coalesce] (did you mean "linger"?)`},
		{"unknown dotted key", "[http]\nlisten = \"x:1\"\nclient.namesvr = []\n",
			`gateway.toml:3: unknown key "namesvr" in [http.client]`},
		{"unknown section reported once, not its keys", "[http]\n[metrics]\nlisten = \"x:1\"\nport = 1\n",
			`gateway.toml:2: unknown section [metrics]`},
		{"a key differing in case only is unknown", "[http]\nListen = \"127.0.0.1:1\"\n",
			`gateway.toml:2: unknown key "Listen" in [http] (did you mean "listen"?)`},
		{"a field the file cannot set", "Logger = \"x\"\n",
			`gateway.toml:1: unknown key "Logger"`},
		{"several unknown keys are all reported", "[client]\nfoo = 1\n[producer]\nbar = 2\n",
			"gateway.toml:2: unknown key \"foo\" in [client]\ngateway.toml:4: unknown key \"bar\" in [producer]"},
		{"string for an array", "[client]\nnamesrv = \"127.0.0.1:9876\"\n",
			`gateway.toml:2: key "namesrv" in [client]: want an array of strings, got a string`},
		{"integer in a string array", "[client]\nnamesrv = [\n  \"a:1\",\n  9876,\n]\n",
			`gateway.toml:2: key "namesrv" in [client]: want an array of strings, got an array holding an integer`},
		{"string for an integer", "[http]\nmax_batch = \"10\"\n",
			`gateway.toml:2: key "max_batch" in [http]: want an integer, got a string`},
		{"string for a boolean", "[dev]\nenabled = \"yes\"\n",
			`gateway.toml:2: key "enabled" in [dev]: want true or false, got a string`},
		{"integer for a duration is refused (it would be nanoseconds)", "[producer]\nsend_timeout = 3\n",
			`gateway.toml:2: key "send_timeout" in [producer]: want a duration string such as "3s", got an integer`},
		{"value for a section", "http = 1\n",
			`gateway.toml:1: key "http": want a table, got an integer`},
		{"duration that does not parse", "[producer]\ngroup = \"g\"\nsend_timeout = \"3 seconds\"\n",
			`gateway.toml:3: key "send_timeout" in [producer]: invalid duration: "3 seconds"`},
		// The library puts it at the key's last line in the file, whichever element's.
		{"duration that does not parse in the first of two elements", "[[consumer]]\ngroup = \"a\"\nwebhook_timeout = \"5 s\"\n[[consumer]]\ngroup = \"b\"\nwebhook_timeout = \"5s\"\n",
			`gateway.toml:3: key "webhook_timeout" in [[consumer]]: invalid duration: "5 s"`},
		{"syntax error", "[http]\nlisten = \"127.0.0.1:1\n",
			`^gateway\.toml:2: .*`},
		{"unclosed table header", "[http\nlisten = \"x\"\n",
			`^gateway\.toml:1: .*table name`},
		{"duplicate key", "[http]\nlisten = \"a:1\"\nlisten = \"b:1\"\n",
			`^gateway\.toml:3: .*already been defined`},
		{"a bad value quoted with its line break stays on one line", "[http]\nmax_batch = 0b\n",
			`gateway.toml:2: key "max_batch" in [http]: not a binary number: '0b\n'`},
		// Inside inline tables, which the documented [[consumer]] example uses, and arrays
		// of tables nested in one: the line of the element at fault.
		{"unknown key in an inline table of an array", "[[consumer]]\ngroup = \"a\"\nsubscriptions = [{ topic = \"T\" }]\n\n[[consumer]]\ngroup = \"b\"\nsubscriptions = [\n  { topic = \"T\" },\n  { topic = \"U\", expresion = \"*\" },\n]\n",
			`gateway.toml:9: unknown key "expresion" in [[consumer.subscriptions]] (did you mean "expression"?)`},
		{"unknown key in a nested array of tables", "[[consumer]]\ngroup = \"a\"\n[[consumer.subscriptions]]\ntopic = \"T\"\n[[consumer]]\ngroup = \"b\"\n[[consumer.subscriptions]]\ntopic = \"T\"\nexpresion = \"*\"\n",
			`gateway.toml:9: unknown key "expresion" in [[consumer.subscriptions]] (did you mean "expression"?)`},
		{"unknown key in an inline table", "[client]\nacl = { acces_key = \"a\" }\n",
			`gateway.toml:2: unknown key "acces_key" in [client.acl] (did you mean "access_key"?)`},
		{"wrong type in an inline table of an array", "[[consumer]]\ngroup = \"a\"\nsubscriptions = [\n  { topic = \"T\" },\n  { topic = 5 },\n]\n",
			`gateway.toml:5: key "topic" in [[consumer.subscriptions]]: want a string, got an integer`},
		{"wrong type in a nested array of tables", "[[consumer]]\ngroup = \"a\"\n[[consumer.subscriptions]]\ntopic = \"T\"\n[[consumer.subscriptions]]\ntopic = 5\n",
			`gateway.toml:6: key "topic" in [[consumer.subscriptions]]: want a string, got an integer`},
		{"wrong type in the nested array of tables of a second element", "[[consumer]]\ngroup = \"a\"\n[[consumer.subscriptions]]\ntopic = \"T\"\n[[consumer]]\ngroup = \"b\"\n[[consumer.subscriptions]]\ntopic = 5\n",
			`gateway.toml:8: key "topic" in [[consumer.subscriptions]]: want a string, got an integer`},
		{"wrong type of a map's value in an array of tables", "[[consumer]]\ngroup = \"a\"\nwebhook_headers = { A = \"x\", B = 5 }\n",
			`gateway.toml:3: key "B" in [consumer.webhook_headers]: want a string, got an integer`},
		{"wrong type of a map's value", "[telemetry]\nheaders = { a = 5 }\n",
			`gateway.toml:2: key "a" in [telemetry.headers]: want a string, got an integer`},
		{"wrong type of a map's value in its own table", "[telemetry.headers]\nb = \"x\"\na = 5\n",
			`gateway.toml:3: key "a" in [telemetry.headers]: want a string, got an integer`},
		{"lines inside a multi-line string are not keys", "[client]\ninstance_name = \"\"\"\nnamesvr = 1\n\"\"\"\nnamesvr = 2\n",
			`gateway.toml:5: unknown key "namesvr" in [client] (did you mean "namesrv"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gateway.toml", []byte(tt.toml), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.HasPrefix(tt.want, "^") {
				if !regexp.MustCompile(tt.want).MatchString(err.Error()) {
					t.Errorf("error %q does not match %s", err, tt.want)
				}
			} else if err.Error() != tt.want {
				t.Errorf("error\n  %q\nwant\n  %q", err, tt.want)
			}
		})
	}
}

func TestParseSecretsFromTheEnvironment(t *testing.T) {
	env := map[string]string{"MQGATE_TEST_AK": "ak", "MQGATE_TEST_SK": "s3cret"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	const file = "[client]\nnamesrv = [\"a:1\"]\n[client.acl]\naccess_key = \"${MQGATE_TEST_AK}\"\nsecret_key = \"${MQGATE_TEST_SK}\"\nsecurity_token = \"literal\"\n"
	c, err := Parse("gw.toml", []byte(file), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Client.ACL != (ACLConfig{AccessKey: "ak", SecretKey: "s3cret", SecurityToken: "literal"}) {
		t.Errorf("acl %+v", c.Client.ACL)
	}

	for _, tt := range []struct{ name, toml, want string }{
		{"unset variable", "[client.acl]\naccess_key = \"ak\"\nsecret_key = \"${MQGATE_TEST_MISSING}\"\n",
			`gw.toml:3: key "secret_key" in [client.acl]: environment variable MQGATE_TEST_MISSING is not set`},
		{"malformed reference", "[client.acl]\n\nsecret_key = \"${MQGATE_TEST_SK\"\n",
			`gw.toml:3: key "secret_key" in [client.acl]: "${MQGATE_TEST_SK" is not of the form ${NAME}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gw.toml", []byte(tt.toml), lookup)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestLoadReadsAFileAndNamesIt(t *testing.T) {
	path := t.TempDir() + "/custom.toml"
	if err := os.WriteFile(path, []byte("[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n[http]\nlisen = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if want := path + `:5: unknown key "lisen" in [http] (did you mean "listen"?)`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if _, err := Load(t.TempDir() + "/missing.toml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidateAppliesDefaults(t *testing.T) {
	c := Config{Client: ClientConfig{NameServers: []string{"127.0.0.1:9876"}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Logger == nil {
		t.Error("no logger")
	}
	h := c.HTTP
	if h.Listen != DefaultHTTPListen || h.ReadHeaderTimeout != DefaultReadHeaderTimeout || h.ReadTimeout != DefaultReadTimeout ||
		h.IdleTimeout != DefaultIdleTimeout ||
		h.ShutdownTimeout != DefaultShutdownTimeout || h.MaxBatch != DefaultMaxBatch {
		t.Errorf("http %+v", h)
	}
	if want := int64(4<<20*4/3) + 256<<10; h.MaxRequestBytes < want || h.MaxRequestBytes > want+4 {
		t.Errorf("max request bytes %d, want about %d", h.MaxRequestBytes, want)
	}
	p := c.Producer
	if p.Group != DefaultProducerGroup || p.MaxMessageSize != message.DefaultMaxBodySize || p.Retries != nil {
		t.Errorf("producer %+v", p)
	}
	if p.Coalesce.Enabled == nil || !*p.Coalesce.Enabled {
		t.Error("coalescing is not on by default")
	}
	d := c.Dev
	if d.NameServerListen != DefaultDevNameServer || d.BrokerListen != DefaultDevBroker || d.QueuesPerTopic != 8 ||
		d.DelayFactor != 1 || d.AutoCreateTopic == nil || !*d.AutoCreateTopic {
		t.Errorf("dev %+v", d)
	}

	// A dev gateway needs no NameServer.
	dev := Config{Dev: DevConfig{Enabled: true}}
	if err := dev.Validate(); err != nil {
		t.Errorf("dev config: %v", err)
	}
	// Explicit values stay.
	off := false
	e := Config{Client: ClientConfig{NameServers: []string{"h:1"}}, HTTP: HTTPConfig{MaxBatch: 3, MaxRequestBytes: 1000},
		Producer: ProducerConfig{Coalesce: CoalesceConfig{Enabled: &off}}}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.HTTP.MaxBatch != 3 || e.HTTP.MaxRequestBytes != 1000 || *e.Producer.Coalesce.Enabled {
		t.Errorf("explicit values overwritten: %+v %+v", e.HTTP, e.Producer.Coalesce)
	}
}

func TestValidateRefusesWhatCannotWork(t *testing.T) {
	ns := []string{"127.0.0.1:9876"}
	neg := -1
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no NameServer without the dev cluster", Config{}, "[client]: no NameServer"},
		{"NameServer without a port", Config{Client: ClientConfig{NameServers: []string{"localhost"}}}, `[client] namesrv[0]: address localhost: missing port`},
		{"NameServer port 0", Config{Client: ClientConfig{NameServers: []string{"h:0"}}}, `[client] namesrv[0]: address "h:0": bad port "0"`},
		{"address server not http", Config{Client: ClientConfig{NameServerURL: "ftp://x/y"}}, `[client] namesrv_url: "ftp://x/y" is not an http(s) URL`},
		{"bad client ip", Config{Client: ClientConfig{NameServers: ns, ClientIP: "host"}}, `[client] client_ip: "host" is not an IP address`},
		{"bad serialize", Config{Client: ClientConfig{NameServers: ns, Serialize: "XML"}}, `[client] serialize: "XML": want ROCKETMQ or JSON`},
		{"access key without secret", Config{Client: ClientConfig{NameServers: ns, ACL: ACLConfig{AccessKey: "ak"}}}, "[client.acl]: access_key and secret_key go together"},
		{"bad listen", Config{Client: ClientConfig{NameServers: ns}, HTTP: HTTPConfig{Listen: "8080"}}, "[http] listen: address 8080: missing port"},
		{"negative duration", Config{Client: ClientConfig{NameServers: ns}, Producer: ProducerConfig{SendTimeout: -time.Second}}, "[producer] send_timeout: -1s is negative"},
		{"negative retries", Config{Client: ClientConfig{NameServers: ns}, Producer: ProducerConfig{Retries: &neg}}, "[producer] retries: -1 is negative"},
		{"bad group", Config{Client: ClientConfig{NameServers: ns}, Producer: ProducerConfig{Group: "a b"}}, `[producer] group: message: invalid group: group "a b" contains characters`},
		{"bad compress level", Config{Client: ClientConfig{NameServers: ns}, Producer: ProducerConfig{CompressLevel: 12}}, "[producer] compress_level: 12 is not a zlib level"},
		{"bad dev queues", Config{Dev: DevConfig{Enabled: true, QueuesPerTopic: 2000}}, "[dev] queues: 2000 is out of 1..1024"},
		{"bad dev listen", Config{Dev: DevConfig{Enabled: true, BrokerListen: "nope"}}, "[dev] broker_listen: address nope: missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), "gateway config: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}

	// Every problem is reported at once.
	c := Config{HTTP: HTTPConfig{Listen: "x", MaxBatch: -1}}
	err := c.Validate()
	if err == nil || strings.Count(err.Error(), "\n") < 2 {
		t.Errorf("want three problems, got %v", err)
	}
}

// A value that parses but cannot work is reported, as a type error is, with the file and
// line that set it, at start (Validate) as at a reload (Reload validates first).
func TestValidateNamesTheLineOfASettingFromTheFile(t *testing.T) {
	const head = "[client]\nnamesrv = [\"127.0.0.1:9876\"]\n\n"
	tests := []struct{ name, toml, want string }{
		{"sample ratio out of range", head + "[telemetry]\nenabled = true\nsample_ratio = 2.0\n",
			"gateway.toml:6: [telemetry] telemetry: sample_ratio 2: want 0 to 1"},
		{"telemetry protocol", head + "[telemetry]\nprotocol = \"udp\"\n",
			`gateway.toml:5: [telemetry] telemetry: protocol "udp": want grpc or http`},
		{"negative duration", head + "[http]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout = \"-1s\"\n",
			"gateway.toml:6: [http] shutdown_timeout: -1s is negative"},
		{"a dotted key", "\nproducer.coalesce.linger = \"-1ms\"\n" + head,
			"gateway.toml:2: [producer.coalesce] linger: -1ms is negative"},
		{"an element of an array", "[client]\nnamesrv = [\n  \"localhost\",\n]\n",
			"gateway.toml:2: [client] namesrv[0]: address localhost: missing port"},
		{"log format", head + "[log]\nformat = \"xml\"\n",
			`gateway.toml:5: [log] format: "xml": want text or json`},
		{"admin listen", head + "[admin]\nlisten = \"9090\"\n",
			"gateway.toml:5: [admin] listen: address 9090: missing port"},
		{"a table's rule, at its header", head + "[client.acl]\naccess_key = \"ak\"\n",
			"gateway.toml:4: [client.acl]: access_key and secret_key go together"},
		{"a default the file did not write has no line", "[http]\nlisten = \"127.0.0.1:0\"\n",
			"gateway config: [client]: no NameServer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("gateway.toml", []byte(tt.toml), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Logger = discard
			err = cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one with %q", err, tt.want)
			}
		})
	}

	g, err := New(testConfig("127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("gateway.toml", []byte(tests[0].toml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Reload(ctxFor(t, time.Second), cfg); err == nil || !strings.Contains(err.Error(), tests[0].want) {
		t.Errorf("reload: %v, want %q", err, tests[0].want)
	}
}

// The example gateway.toml at the root documents the defaults: decoded and validated, it
// gives what an empty file gives (with its example NameServer).
func TestExampleFileDocumentsTheDefaults(t *testing.T) {
	example, err := Load("../gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	empty := Config{Client: ClientConfig{NameServers: []string{"127.0.0.1:9876"}}}
	for _, c := range []*Config{&example, &empty} {
		c.Client.InstanceName = "fixed" // the default is derived from the clock
		c.Client.ClientIP = "10.0.0.1"
		c.Logger = discard
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(example.HTTP, empty.HTTP) {
		t.Errorf("[http]\n example %+v\n default %+v", example.HTTP, empty.HTTP)
	}
	if !reflect.DeepEqual(example.Dev, empty.Dev) {
		t.Errorf("[dev]\n example %+v\n default %+v", example.Dev, empty.Dev)
	}
	// The producer's and the instance's settings default in their own packages: compare
	// what those make of them.
	ep, dp := example.producerConfig(), empty.producerConfig()
	for _, p := range []any{ep.Validate(), dp.Validate()} {
		if p != nil {
			t.Fatal(p)
		}
	}
	// retries = 2 and no retries resolve alike, in unexported fields DeepEqual compares.
	ep.RetriesWhenSyncFailed, ep.RetriesWhenAsyncFailed = 0, 0
	dp.RetriesWhenSyncFailed, dp.RetriesWhenAsyncFailed = 0, 0
	if !reflect.DeepEqual(ep, dp) {
		t.Errorf("[producer]\n example %+v\n default %+v", ep, dp)
	}
	ei, di := example.instanceConfig(example.Client.NameServers), empty.instanceConfig(empty.Client.NameServers)
	if err := ei.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := di.Validate(); err != nil {
		t.Fatal(err)
	}
	ei.Transport.Logger, di.Transport.Logger = nil, nil
	if !reflect.DeepEqual(ei, di) {
		t.Errorf("[client]\n example %+v\n default %+v", ei, di)
	}
}
