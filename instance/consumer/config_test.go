package consumer

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestConfigValidate: settings that could only misbehave are refused, naming them.
func TestConfigValidate(t *testing.T) {
	handler := HandlerFunc(func(context.Context, *Delivery) {})
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no handler", func(c *Config) { c.Handler = nil }, "no Handler"},
		{"bad model", func(c *Config) { c.Model = "FANOUT" }, "Model"},
		{"negative duration", func(c *Config) { c.ConsumeTimeout = -time.Second }, "ConsumeTimeout"},
		{"rebalances back to back", func(c *Config) { c.RebalanceInterval = time.Millisecond }, "RebalanceInterval 1ms is under 100ms"},
		{"rebalances at the floor", func(c *Config) { c.RebalanceInterval = MinRebalanceInterval }, ""},
		{"pull timeout within the broker's hold", func(c *Config) { c.PullTimeout = 10 * time.Second }, "PullTimeout"},
		{"pull expiry within a long poll", func(c *Config) { c.PullExpiry = 15 * time.Second }, "PullExpiry"},
		{"orderly lock trusted shorter than renewed", func(c *Config) {
			c.Orderly, c.LockMaxLive, c.LockInterval = true, 10*time.Second, 20*time.Second
		}, "LockMaxLive"},
		{"concurrent consumers take no lock", func(c *Config) { c.LockMaxLive, c.LockInterval = 10*time.Second, 20*time.Second }, ""},
		{"orderly defaults", func(c *Config) { c.Orderly = true }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Group: "cg", Handler: handler}
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
