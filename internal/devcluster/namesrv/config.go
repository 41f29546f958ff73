package namesrv

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/faults"
)

// Config configures a Server. The zero value is usable: Validate fills in the defaults,
// which are Java's.
type Config struct {
	Addr string // address to listen on; default "127.0.0.1:0"
	// BrokerExpiry is how long a broker may go without registering before a scan removes
	// it (Java's BROKER_CHANNEL_EXPIRED_TIME); default 120s.
	BrokerExpiry time.Duration
	// ScanInterval is the period of the scan for expired brokers; default 10s.
	ScanInterval time.Duration
	// Clock gives the time of registrations and drives the scan; default the system clock.
	Clock Clock
	// Faults, when set, is applied to every request handler.
	Faults *faults.Injector
	Logger *slog.Logger // default slog.Default()
}

// Validate applies the defaults and reports the first invalid setting.
func (c *Config) Validate() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.BrokerExpiry == 0 {
		c.BrokerExpiry = 120 * time.Second
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 10 * time.Second
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	if c.BrokerExpiry < 0 {
		errs = append(errs, fmt.Errorf("broker expiry %v is negative", c.BrokerExpiry))
	}
	if c.ScanInterval < 0 {
		errs = append(errs, fmt.Errorf("scan interval %v is negative", c.ScanInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namesrv: invalid config: %w", err)
	}
	return nil
}

// Clock is the time source of a Server, injectable so that tests of the 120 s expiry run
// at once.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of *time.Ticker a Server uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker returns a time.Ticker.
func (SystemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
