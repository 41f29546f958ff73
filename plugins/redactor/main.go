// Command redactor is an example consume hook: it replaces the values of named fields
// in JSON message bodies, at any depth up to 512, before the message is delivered. A body
// of several JSON texts separated by whitespace (JSON Lines, NDJSON) has each redacted. A
// body that is not JSON (one text with a line that is not, too), or has none of the
// fields, is delivered untouched. Configuration:
//
//	{"fields": ["password", "cardNumber"], "replacement": "***"}
//
// A body nested deeper fails the call, as does one that keeps the hook past its deadline
// (bodies of megabytes, by the batch): what then happens is the slot's policy. Under the
// hooks' default, skip, the batch is delivered as it came, secrets included; where
// redaction is a must, load the plugin with policy = "fail", and such a batch is consumed
// again later, a message that never passes ending in the dead-letter queue.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o redactor.wasm .

import (
	"fmt"

	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var (
	redactor *Redactor
	scratch  []byte // reused output buffer; SetBody copies it
)

func configure(config []byte) error {
	var c struct {
		Fields      []string `json:"fields"`
		Replacement *string  `json:"replacement"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	repl := "***"
	if c.Replacement != nil {
		repl = *c.Replacement
	}
	r, err := NewRedactor(c.Fields, repl)
	redactor = r
	return err
}

func before(_ *sdk.ConsumeContext, m *sdk.ConsumedMessage) error {
	out, changed, err := redactor.Redact(scratch[:0], m.Body())
	if err != nil {
		return fmt.Errorf("message %s: %w", m.MsgID(), err)
	}
	if changed {
		m.SetBody(out)
		scratch = out
	}
	return nil
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterConsumeHook(sdk.ConsumeHook{Before: before})
}

func main() {}
