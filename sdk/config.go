package sdk

// Configure registers f to receive the plugin's configuration once, when the gateway
// loads the module, before any other call. An error refuses the module: the gateway
// reports it and keeps the previous version. By convention the configuration is a JSON
// object (the gateway writes the plugin's TOML table as one); empty means none.
func Configure(f func(config []byte) error) { reg.configure = f }

// Config returns the configuration the module was loaded with.
func Config() []byte { return reg.config }
