module github.com/mqgate/mqgate

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/cloudwego/netpoll v0.7.2
	github.com/tetratelabs/wazero v1.12.0
)

require (
	github.com/bytedance/gopkg v0.1.1 // indirect
	github.com/cloudwego/gopkg v0.1.4 // indirect
	golang.org/x/sys v0.44.0 // indirect
)
