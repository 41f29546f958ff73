package gateway_test

import (
	"fmt"
	"os"

	"github.com/mqgate/mqgate/gateway"
)

// Load reads gateway.toml; Validate (which gateway.New calls) applies the defaults.
func ExampleLoad() {
	cfg, err := gateway.Load("../gateway.toml") // the documented example at the repository's root
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Dev.Enabled = true // what --dev does
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("HTTP API on", cfg.HTTP.Listen)
	fmt.Println("dev cluster on", cfg.Dev.NameServerListen, "and", cfg.Dev.BrokerListen)
	fmt.Println("producer group", cfg.Producer.Group, "coalescing", *cfg.Producer.Coalesce.Enabled)
	// Output:
	// HTTP API on 127.0.0.1:8080
	// dev cluster on 127.0.0.1:9876 and 127.0.0.1:10911
	// producer group mqgate_gateway coalescing true
}

// A typo is refused with the file, the line and the key; secrets come from the
// environment.
func ExampleParse() {
	file := []byte(`
[client]
namesvr = ["127.0.0.1:9876"]
`)
	_, err := gateway.Parse("gateway.toml", file, os.LookupEnv)
	fmt.Println(err)

	file = []byte(`
[client]
namesrv = ["127.0.0.1:9876"]

[client.acl]
access_key = "gateway"
secret_key = "${EXAMPLE_SECRET_KEY}"
`)
	env := func(name string) (string, bool) { return "s3cret", name == "EXAMPLE_SECRET_KEY" }
	cfg, err := gateway.Parse("gateway.toml", file, env)
	fmt.Println(cfg.Client.ACL.SecretKey, err)
	// Output:
	// gateway.toml:3: unknown key "namesvr" in [client] (did you mean "namesrv"?)
	// s3cret <nil>
}
