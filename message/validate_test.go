package message

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNames(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) error
		in    string
		ok    bool
	}{
		{"plain topic", ValidateTopic, "RecTopic", true},
		{"topic with every allowed character", ValidateTopic, "%RETRY%a|b_c-D9", true},
		{"topic of 127 bytes", ValidateTopic, strings.Repeat("t", 127), true},
		{"topic of 128 bytes", ValidateTopic, strings.Repeat("t", 128), false},
		{"empty topic", ValidateTopic, "", false},
		{"blank topic", ValidateTopic, "  \t", false},
		{"topic with a dot", ValidateTopic, "a.b", false},
		{"topic with a space", ValidateTopic, "a b", false},
		{"topic with a slash", ValidateTopic, "a/b", false},
		{"topic with non-ASCII", ValidateTopic, "thé", false},
		{"topic with NUL", ValidateTopic, "a\x00", false},
		{"system topic is a valid name", ValidateTopic, "TBW102", true},
		{"plain group", ValidateGroup, "rec_push_cg", true},
		{"group of 255 bytes", ValidateGroup, strings.Repeat("g", 255), true},
		{"group of 256 bytes", ValidateGroup, strings.Repeat("g", 256), false},
		{"blank group", ValidateGroup, " ", false},
		{"group with a colon", ValidateGroup, "a:b", false},
		{"tag", ValidateTag, "TagA", true},
		{"no tag", ValidateTag, "", true},
		{"tag with spaces and dots", ValidateTag, "Tag A.1", true},
		{"blank tag", ValidateTag, "  ", false},
		{"tag with '|'", ValidateTag, "TagA||TagB", false},
		{"tag ending with a space", ValidateTag, "TagA ", false},
		{"tag starting with a space", ValidateTag, " TagA", false},
		{"tag with a control character", ValidateTag, "Tag\nA", false},
		{"tag with a C1 control character", ValidateTag, "Tag\u0085", false},
		{"key", ValidateKey, "order-123", true},
		{"blank key", ValidateKey, "", false},
		{"key with a space", ValidateKey, "a b", false},
		{"key with a tab", ValidateKey, "a\tb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			var ve *ValidationError
			if err != nil && (!errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrMessageTooLarge)) {
				t.Errorf("err %v is not a plain ValidationError", err)
			}
		})
	}
}

func TestSystemTopics(t *testing.T) {
	for _, topic := range []string{"TBW102", "SCHEDULE_TOPIC_XXXX", "BenchmarkTest", "RMQ_SYS_TRANS_HALF_TOPIC",
		"RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC",
		"OFFSET_MOVED_EVENT", "rmq_sys_anything"} {
		if !IsSystemTopic(topic) {
			t.Errorf("%s is a system topic", topic)
		}
	}
	for _, topic := range []string{"RecTopic", "RMQ_SYS_OTHER", "%RETRY%g"} {
		if IsSystemTopic(topic) {
			t.Errorf("%s is not a system topic", topic)
		}
	}
	for topic, forbidden := range map[string]bool{"SCHEDULE_TOPIC_XXXX": true, "RMQ_SYS_TRANS_HALF_TOPIC": true,
		"RMQ_SYS_TRANS_OP_HALF_TOPIC": true, "TRANS_CHECK_MAX_TIME_TOPIC": true, "SELF_TEST_TOPIC": true,
		"OFFSET_MOVED_EVENT": true, "TBW102": false, "RMQ_SYS_TRACE_TOPIC": false, "BenchmarkTest": false} {
		if IsNotAllowedSendTopic(topic) != forbidden {
			t.Errorf("IsNotAllowedSendTopic(%s) != %v", topic, forbidden)
		}
	}
	if RetryTopic("g") != "%RETRY%g" || DLQTopic("g") != "%DLQ%g" {
		t.Error("retry/DLQ topic names")
	}
}

func validMessage() Message {
	m := Message{Topic: "RecTopic", Body: []byte("hello")}
	m.SetTags("TagA")
	m.SetKeys("k1", "k2")
	m.Properties.Set("color", "blue")
	return m
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*Message)
		max      int
		field    string // "" means valid
		tooLarge bool
	}{
		{"valid message", func(*Message) {}, 0, "", false},
		{"bad topic", func(m *Message) { m.Topic = "a b" }, 0, "topic", false},
		{"topic a client may not send to", func(m *Message) { m.Topic = SystemTopicSchedule }, 0, "topic", false},
		{"trace topic may be sent to", func(m *Message) { m.Topic = SystemTopicTrace }, 0, "", false},
		{"nil body", func(m *Message) { m.Body = nil }, 0, "body", false},
		{"empty body", func(m *Message) { m.Body = []byte{} }, 0, "body", false},
		{"body at the limit", func(m *Message) { m.Body = make([]byte, 10) }, 10, "", false},
		{"body over the limit", func(m *Message) { m.Body = make([]byte, 11) }, 10, "body", true},
		{"body over the default 4 MiB", func(m *Message) { m.Body = make([]byte, 4<<20+1) }, 0, "body", true},
		{"tag with '|'", func(m *Message) { m.SetTags("A||B") }, 0, "tags", false},
		{"key with a control character", func(m *Message) { m.Properties.Set(PropertyKeys, "a\x00") }, 0, "keys", false},
		{"keys with a double space", func(m *Message) { m.Properties.Set(PropertyKeys, "a  b") }, 0, "keys", false},
		{"property value smuggling a pair", func(m *Message) { m.Properties.Set("x", "1\x02DELAY\x0118") }, 0, `property "x"`, false},
		{"property name with 0x01", func(m *Message) { m.Properties.Set("x\x01y", "1") }, 0, "property \"x\\x01y\"", false},
		{"empty property value", func(m *Message) { m.Properties.Set("x", "") }, 0, `property "x"`, false},
		{"properties over an int16", func(m *Message) { m.Properties.Set("big", strings.Repeat("v", 1<<15)) }, 0, "properties", true},
		{"DELAY not a number", func(m *Message) { m.Properties.Set(PropertyDelayTimeLevel, "two") }, 0, "delay", false},
		{"DELAY a number", func(m *Message) { m.SetDelayLevel(2) }, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validMessage()
			tc.edit(&m)
			err := m.Validate(tc.max)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid message refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field || errors.Is(err, ErrMessageTooLarge) != tc.tooLarge {
				t.Fatalf("err = %#v (%v), want field %q, too large %v", ve, err, tc.field, tc.tooLarge)
			}
		})
	}
}

func TestValidateUserProperty(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"color", "blue", true},
		{"TAGS", "x", false},
		{"UNIQ_KEY", "x", false},
		{" ", "x", false},
		{"color", " ", false},
		{"co\x02lor", "x", false},
		{"color", "a\x02b", false},
		{"color", "a\x01b", true}, // Java's decoder keeps 0x01 inside a value
	} {
		if err := ValidateUserProperty(tc.name, tc.value); (err == nil) != tc.ok {
			t.Errorf("ValidateUserProperty(%q, %q) = %v", tc.name, tc.value, err)
		}
	}
}

func TestValidateBatch(t *testing.T) {
	batch := func() []Message { return []Message{validMessage(), validMessage()} }
	tests := []struct {
		name     string
		edit     func([]Message) []Message
		max      int
		field    string
		tooLarge bool
	}{
		{"valid batch", func(m []Message) []Message { return m }, 0, "", false},
		{"empty batch", func([]Message) []Message { return nil }, 0, "messages", false},
		{"delayed message", func(m []Message) []Message { m[1].SetDelayLevel(1); return m }, 0, "messages[1].delay", false},
		{"retry topic", func(m []Message) []Message {
			m[0].Topic, m[1].Topic = "%RETRY%g", "%RETRY%g"
			return m
		}, 0, "messages[0].topic", false},
		{"two topics", func(m []Message) []Message { m[1].Topic = "Other"; return m }, 0, "messages[1].topic", false},
		{"two WAIT values", func(m []Message) []Message { m[1].SetWaitStoreMsgOK(false); return m }, 0, "messages[1].properties", false},
		{"invalid message", func(m []Message) []Message { m[1].Body = nil; return m }, 0, "messages[1].body", false},
		{"batch over the limit", func(m []Message) []Message { return m }, 80, "messages", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateBatch(tc.edit(batch()), tc.max)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid batch refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field || errors.Is(err, ErrMessageTooLarge) != tc.tooLarge {
				t.Fatalf("err = %v, want field %q, too large %v", err, tc.field, tc.tooLarge)
			}
		})
	}
}
