// Command enricher is an example send hook: it adds the same properties (headers) to
// every message sent. Configuration:
//
//	{"properties": {"x-gateway": "eu-1", "x-team": "billing"}, "overwrite": false}
//
// Without overwrite a property the message already has is left alone.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o enricher.wasm .

import (
	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var enricher Enricher

func configure(config []byte) error {
	var c struct {
		Properties map[string]string `json:"properties"`
		Overwrite  bool              `json:"overwrite"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	e, err := NewEnricher(c.Properties, c.Overwrite)
	enricher = e
	return err
}

func before(m *sdk.SendMessage) error {
	enricher.Apply(m)
	return nil
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterSendHook(sdk.SendHook{Before: before, HeadersOnly: true})
}

func main() {}
