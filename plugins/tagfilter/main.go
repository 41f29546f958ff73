// Command tagfilter is an example consume hook: it delivers the messages whose tag is
// one of a list and skips the others (their offsets advance: they count as consumed).
// Configuration: {"tags": ["TagA", "TagB"], "exclude": false}; with exclude the listed
// tags are the ones skipped. An entry may be a RocketMQ subscription expression,
// "TagA || TagB", blanks around a tag ignored. "*" matches every message, as in a RocketMQ
// subscription, and "" a message without a tag; excluding "*" is refused, as it would skip
// every message.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o tagfilter.wasm .

import (
	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var filter Filter

func configure(config []byte) error {
	var c struct {
		Tags    []string `json:"tags"`
		Exclude bool     `json:"exclude"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	f, err := NewFilter(c.Tags, c.Exclude)
	filter = f
	return err
}

func before(_ *sdk.ConsumeContext, m *sdk.ConsumedMessage) error {
	if !filter.Deliver(m.Tags()) {
		m.Skip()
	}
	return nil
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterConsumeHook(sdk.ConsumeHook{Before: before, HeadersOnly: true})
}

func main() {}
