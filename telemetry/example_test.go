package telemetry_test

import (
	"context"
	"fmt"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/telemetry"
)

// A producer's span context travels in the message's properties; a consumer reads it
// back as the parent (and link) of its span.
func ExampleInject() {
	ratio := 1.0
	p, err := telemetry.Setup(context.Background(), telemetry.Config{Enabled: true, SampleRatio: &ratio})
	if err != nil {
		panic(err)
	}
	defer p.Shutdown(context.Background())

	ctx, span := p.Instruments().Tracer("example").Start(context.Background(), "Orders publish")
	var msg message.Message
	telemetry.Inject(ctx, &msg.Properties)
	span.End()

	sc := telemetry.Extract(&msg.Properties)
	fmt.Println(sc.TraceID() == span.SpanContext().TraceID(), sc.IsRemote(), sc.IsSampled())
	fmt.Println(len(msg.Properties.Get(telemetry.PropertyTraceParent)))
	// Output:
	// true true true
	// 55
}
