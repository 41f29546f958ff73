package message

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrInvalid matches every *ValidationError.
var ErrInvalid = errors.New("invalid")

// ValidationError says which field of a message, or which name, breaks a rule and why. An
// HTTP layer answers 400, or 413 when errors.Is(err, ErrMessageTooLarge).
type ValidationError struct {
	Field  string // "topic", "group", "body", "tags", "keys", "properties", "property NAME", "messages[3].topic"...
	Reason string
	Err    error // ErrMessageTooLarge for size limits, else nil
}

func (e *ValidationError) Error() string {
	return "message: invalid " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrMessageTooLarge for size limits.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalid) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func tooLarge(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrMessageTooLarge}
}

// validNameChar is TopicValidator.VALID_CHAR_BIT_MAP: ^[%|a-zA-Z0-9_-]+$.
var validNameChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	t['%'], t['|'], t['_'], t['-'] = true, true, true, true
	return t
}()

func nameCharsValid(s string) bool {
	for i := 0; i < len(s); i++ {
		if !validNameChar[s[i]] {
			return false
		}
	}
	return true
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// ValidateTopic checks a topic name as Java's Validators.checkTopic: not blank, at most
// MaxTopicLength bytes, only the characters of ^[%|a-zA-Z0-9_-]+$.
func ValidateTopic(topic string) error {
	switch {
	case isBlank(topic):
		return invalid("topic", "the topic is blank")
	case len(topic) > MaxTopicLength:
		return invalid("topic", "the topic is longer than %d bytes", MaxTopicLength)
	case !nameCharsValid(topic):
		return invalid("topic", "topic %q contains characters outside ^[%%|a-zA-Z0-9_-]+$", topic)
	}
	return nil
}

// ValidateGroup checks a producer or consumer group name as Java's Validators.checkGroup:
// not blank, at most MaxGroupLength bytes, only the characters of ^[%|a-zA-Z0-9_-]+$. (The
// Java producer and consumer also refuse DefaultProducerGroup and DefaultConsumerGroup.)
func ValidateGroup(group string) error {
	switch {
	case isBlank(group):
		return invalid("group", "the group is blank")
	case len(group) > MaxGroupLength:
		return invalid("group", "the group is longer than %d bytes", MaxGroupLength)
	case !nameCharsValid(group):
		return invalid("group", "group %q contains characters outside ^[%%|a-zA-Z0-9_-]+$", group)
	}
	return nil
}

// ValidateTag checks a message tag with RocketMQ 5's proxy rules (the 4.9.4 client has
// none): not blank, no '|' (subscriptions join tags with "||", so such a tag could never
// match), no control character; nor a space at either end, which a subscription trims
// from its tags (Java's FilterAPI), so that no expression could match it. An empty tag
// means none and is valid.
func ValidateTag(tag string) error {
	switch {
	case tag == "":
		return nil
	case isBlank(tag):
		return invalid("tags", "the tag is blank")
	case strings.IndexByte(tag, '|') >= 0:
		return invalid("tags", "tag %q contains '|'", tag)
	case tag[0] == ' ' || tag[len(tag)-1] == ' ':
		return invalid("tags", "tag %q starts or ends with a space, which subscriptions trim: none could match it", tag)
	case hasControl(tag):
		return invalid("tags", "tag %q contains a control character", tag)
	}
	return nil
}

// ValidateKey checks one message key: not blank, no control character (RocketMQ 5's proxy
// rules) and no space, the separator of keys in the KEYS property, which would split it.
func ValidateKey(key string) error {
	switch {
	case isBlank(key):
		return invalid("keys", "the key is blank")
	case strings.Contains(key, KeySeparator):
		return invalid("keys", "key %q contains the key separator (a space)", key)
	case hasControl(key):
		return invalid("keys", "key %q contains a control character", key)
	}
	return nil
}

// ValidateUserProperty checks a property an application sets, as Java's
// Message.putUserProperty: the name is not a system property, neither name nor value is
// blank; and neither contains a separator of the properties encoding, which would let a
// value smuggle in other properties.
func ValidateUserProperty(name, value string) error {
	// The field's name is built for an error only: this runs for every property of every
	// send.
	switch {
	case IsSystemProperty(name):
		return invalid("property "+strconv.Quote(name), "the name is reserved for the system")
	case isBlank(name) || isBlank(value):
		return invalid("property "+strconv.Quote(name), "the name or value is blank")
	}
	return checkPropertySeparators(name, value)
}

func checkPropertySeparators(name, value string) error {
	// IndexByte rather than ContainsAny: it runs for every property of every send.
	if strings.IndexByte(name, 1) >= 0 || strings.IndexByte(name, 2) >= 0 || strings.IndexByte(value, 2) >= 0 {
		return invalid("property "+strconv.Quote(name), "a name contains 0x01 or 0x02, or a value 0x02")
	}
	return nil
}

// hasControl reports whether s holds a character Java's Character.isISOControl matches.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// Validate checks m before it is sent, as Java's Validators.checkMessage: the topic (see
// ValidateTopic) is one a client may send to; the body is not empty and at most maxBodySize
// bytes (DefaultMaxBodySize when maxBodySize <= 0; ErrMessageTooLarge). It also checks what
// would corrupt the message on the wire or make it unmatchable: properties with an empty
// name or value (the decoder drops them) or a separator inside, properties longer than an
// int16 length holds (ErrMessageTooLarge), tags and keys (ValidateTag, ValidateKey), and a
// DELAY that is not a number.
func (m *Message) Validate(maxBodySize int) error { return m.ValidateLeaving(maxBodySize, 0) }

// ValidateLeaving is Validate leaving room in the properties' limit for propertyRoom
// encoded bytes that the sender adds before sending (its unique id, a namespace): a
// message within the limit only without them would reach the broker over it, and fail
// there, or fail every message coalesced with it.
func (m *Message) ValidateLeaving(maxBodySize, propertyRoom int) error {
	if maxBodySize <= 0 {
		maxBodySize = DefaultMaxBodySize
	}
	if err := ValidateTopic(m.Topic); err != nil {
		return err
	}
	if IsNotAllowedSendTopic(m.Topic) {
		return invalid("topic", "sending to topic %q is forbidden", m.Topic)
	}
	if len(m.Body) == 0 {
		return invalid("body", "the body is empty")
	}
	if len(m.Body) > maxBodySize {
		return tooLarge("body", "the body of %d bytes exceeds %d", len(m.Body), maxBodySize)
	}
	for name, value := range m.Properties.All() {
		if name == "" || value == "" {
			return invalid("property "+strconv.Quote(name), "the name or value is empty")
		}
		if err := checkPropertySeparators(name, value); err != nil {
			return err
		}
	}
	if n := m.Properties.EncodedLen(); n+propertyRoom > maxPropertiesLen {
		if propertyRoom > 0 {
			return tooLarge("properties", "the properties take %d bytes, and %d more with the producer's, more than %d",
				n, n+propertyRoom, maxPropertiesLen)
		}
		return tooLarge("properties", "the properties take %d bytes, more than %d", n, maxPropertiesLen)
	}
	if err := ValidateTag(m.Tags()); err != nil {
		return err
	}
	if keys, ok := m.Properties.Lookup(PropertyKeys); ok {
		for k := range strings.SplitSeq(keys, KeySeparator) { // no slice: every send runs this
			if err := ValidateKey(k); err != nil {
				return err
			}
		}
	}
	if d, ok := m.Properties.Lookup(PropertyDelayTimeLevel); ok {
		if _, err := strconv.ParseInt(d, 10, 32); err != nil {
			return invalid("delay", "delay level %q is not a number", d)
		}
	}
	return nil
}

// ValidateBatch checks messages to be sent as one batch, as Java's MessageBatch and
// DefaultMQProducer.batch: at least one message; each valid (Message.Validate); none
// delayed or sent to a retry topic; all with the first one's topic and WAIT; and the
// encoded batch at most maxSize bytes (DefaultMaxBodySize when maxSize <= 0).
func ValidateBatch(msgs []Message, maxSize int) error {
	if maxSize <= 0 {
		maxSize = DefaultMaxBodySize
	}
	if len(msgs) == 0 {
		return invalid("messages", "the batch is empty")
	}
	first := &msgs[0]
	size := 0
	for i := range msgs {
		m := &msgs[i]
		field := func(f string) string { return fmt.Sprintf("messages[%d].%s", i, f) }
		if err := m.Validate(maxSize); err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) {
				ve.Field = field(ve.Field)
			}
			return err
		}
		switch {
		case m.DelayLevel() > 0:
			return invalid(field("delay"), "a delay level is not supported in a batch")
		case strings.HasPrefix(m.Topic, RetryTopicPrefix):
			return invalid(field("topic"), "a retry topic is not supported in a batch")
		case m.Topic != first.Topic:
			return invalid(field("topic"), "topic %q differs from the batch's %q", m.Topic, first.Topic)
		case m.WaitStoreMsgOK() != first.WaitStoreMsgOK():
			return invalid(field("properties"), "WAIT differs from the batch's first message")
		}
		size += batchMessageHeader + len(m.Body) + 2 + m.Properties.EncodedLen()
	}
	if size > maxSize {
		return tooLarge("messages", "the batch body of %d bytes exceeds %d", size, maxSize)
	}
	return nil
}
