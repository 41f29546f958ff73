package namesrv

import "unicode/utf8"

// encodeTopicList writes Java's TopicList as RemotingSerializable.encode does (fastjson
// defaults): {"topicList":[...]}, the null brokerAddr omitted, topics in the order given.
// TopicList is a NameServer-only body, so it lives here rather than in package remoting.
func encodeTopicList(topics []string) []byte {
	b := append(make([]byte, 0, 16+len(topics)*24), `{"topicList":[`...)
	for i, t := range topics {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFastjsonString(b, t)
	}
	return append(b, "]}"...)
}

// appendFastjsonString quotes s as fastjson's SerializeWriter does by default: the five
// short escapes, other control characters and DEL as \u00XX, '"' and '\\' escaped,
// U+0080 to U+009F, U+2028 and U+2029 as \uXXXX, everything else (other non-ASCII and
// '/' included) as is: the escaping package remoting's JSON header writer applies.
func appendFastjsonString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			if r <= 0x9F || r == 0x2028 || r == 0x2029 {
				b = append(b, '\\', 'u', hex[r>>12], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF])
				continue
			}
			b = utf8.AppendRune(b, r) // invalid UTF-8 becomes U+FFFD, as Java decoding it would
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c == 0x7F:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
