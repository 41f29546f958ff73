package store_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
)

func Example() {
	s, err := store.Open(store.Config{
		StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
		Clock:     func() time.Time { return time.UnixMilli(1700000000000) },
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	m := &message.Ext{QueueID: 1}
	m.Topic = "Orders"
	m.Body = []byte("hello")
	m.SetTags("TagA")
	r, err := s.Put(m)
	if err != nil {
		panic(err)
	}
	fmt.Println("stored at", r.CommitLogOffset, "queue offset", r.QueueOffset, "id", r.OffsetMsgID())

	tagA := store.TagsCode("TagA")
	res := s.Get("Orders", 1, 0, 32, store.TagsCodeFilter(func(c int64) bool { return c == tagA }))
	fmt.Println(res.Status, len(res.Messages), "message, next", res.NextBeginOffset)
	res = s.Get("Orders", 1, 1, 32, nil)
	fmt.Println(res.Status, "next", res.NextBeginOffset)
	// Output:
	// stored at 0 queue offset 0 id 7F00000100002A9F0000000000000000
	// FOUND 1 message, next 1
	// OFFSET_OVERFLOW_ONE next 1
}
