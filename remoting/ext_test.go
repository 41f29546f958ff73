package remoting

import "testing"

func TestAllFieldsListsHeaderThenExt(t *testing.T) {
	c := &Command{Header: &QueryConsumerOffsetRequest{ConsumerGroup: "g", Topic: "t", QueueID: 3}}
	c.Ext.Set("AccessKey", "ak")
	got := AllFields(nil, c)
	want := ExtFields{{"consumerGroup", "g"}, {"topic", "t"}, {"queueId", "3"}, {"AccessKey", "ak"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
