package message_test

import (
	"fmt"
	"net/netip"

	"github.com/mqgate/mqgate/message"
)

// A consumer decodes each PULL_MESSAGE body into the same slice, bodies aliasing the
// frame buffer it keeps until the messages are processed.
func ExampleDecoder_DecodeStored() {
	// What a broker would send: built here with the encoder the dev broker uses.
	e := message.Ext{
		Message:         message.Message{Topic: "RecTopic", Body: []byte("hello rocketmq")},
		QueueID:         1,
		QueueOffset:     2,
		CommitLogOffset: 2977,
		StoreHost:       netip.MustParseAddrPort("127.0.0.1:10921"),
	}
	e.SetTags("TagA")
	e.SetKeys("key-1", "key-2")
	body, _ := message.AppendStored(nil, &e)

	d := message.Decoder{ZeroCopy: true}
	var msgs []message.Ext
	msgs, err := d.DecodeStored(msgs[:0], body)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range msgs {
		fmt.Println(m.Topic, m.QueueOffset, m.Tags(), m.KeyList(), string(m.Body), m.MsgID())
	}
	// Output: RecTopic 2 TagA [key-1 key-2] hello rocketmq 7F00000100002AA90000000000000BA1
}

// A producer validates what an application asks to send, then fills in what the Java
// client would: a unique id and, for a large body, compression.
func ExampleMessage_Validate() {
	ids := message.NewUniqIDGenerator(message.UniqIDConfig{IP: netip.MustParseAddr("192.0.2.2")})
	m := message.Message{Topic: "RecTopic", Body: make([]byte, 5000)}
	m.SetTags("TagA")
	if err := m.Validate(0); err != nil {
		fmt.Println(err)
		return
	}
	m.SetUniqKey(ids.Next())
	body, sysFlag, _ := message.MaybeCompress(m.Body, message.DefaultCompressThreshold, message.DefaultCompressLevel)
	fmt.Printf("sysFlag %#x, compressed smaller: %v\n", sysFlag, len(body) < len(m.Body))

	m.Topic = "bad topic"
	fmt.Println(m.Validate(0))
	// Output:
	// sysFlag 0x301, compressed smaller: true
	// message: invalid topic: topic "bad topic" contains characters outside ^[%|a-zA-Z0-9_-]+$
}
