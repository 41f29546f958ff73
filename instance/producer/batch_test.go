package producer

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/remoting"
)

func TestSendBatchValidation(t *testing.T) {
	ns, brokers := fakeCluster(t, "B", 1, "a")
	inst := startInstance(t, instanceConfig(ns.Addr()))
	p := startProducer(t, inst, Config{MaxMessageSize: 4096})
	msg := func(topic, body string, f ...func(*message.Message)) *message.Message {
		m := newMessage(topic, body)
		for _, g := range f {
			g(m)
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		msgs  []*message.Message
		field string
		large bool
	}{
		{"an empty batch is refused", nil, "messages", false},
		{"a nil message is refused", []*message.Message{msg("B", "x"), nil}, "messages[1].message", false},
		{"an invalid message is named by its index", []*message.Message{msg("B", "x"), msg("B", "")}, "messages[1].body", false},
		{"two topics are refused", []*message.Message{msg("B", "x"), msg("C", "y")}, "messages[1].topic", false},
		{"a delay level is refused", []*message.Message{msg("B", "x", func(m *message.Message) { m.SetDelayLevel(2) })}, "messages[0].delay", false},
		{"a retry topic is refused", []*message.Message{msg("%RETRY%g", "x")}, "messages[0].topic", false},
		{"different WAITs are refused", []*message.Message{msg("B", "x"), msg("B", "y", func(m *message.Message) { m.SetWaitStoreMsgOK(false) })},
			"messages[1].properties", false},
		{"a batch over MaxMessageSize is too large", []*message.Message{msg("B", strings.Repeat("x", 3000)), msg("B", strings.Repeat("y", 3000))},
			"messages", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.SendBatch(bg(t), tc.msgs)
			var ve *message.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field || errors.Is(err, message.ErrMessageTooLarge) != tc.large {
				t.Fatalf("error %v (field %q)", err, fieldOf(ve))
			}
		})
	}
	if brokers[0].sends() != 0 {
		t.Fatal("an invalid batch was sent")
	}
	t.Run("a batch with WAIT false says so in its header", func(t *testing.T) {
		m := msg("B", "x", func(m *message.Message) { m.SetWaitStoreMsgOK(false) })
		if _, err := p.SendBatch(bg(t), []*message.Message{m}); err != nil {
			t.Fatal(err)
		}
		var h remoting.SendRequestV2
		_ = h.DecodeFields(brokers[0].Requests(remoting.SendBatchMessage)[0].Ext)
		if !h.Batch || h.Properties != "WAIT\x01false" || h.SysFlag != 0 {
			t.Fatalf("header %+v", h)
		}
	})
}

func fieldOf(ve *message.ValidationError) string {
	if ve == nil {
		return ""
	}
	return ve.Field
}
