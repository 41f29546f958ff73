package broker

import (
	"testing"

	"github.com/mqgate/mqgate/remoting"
)

func TestStoreMaintenanceIsAnsweredAsJava(t *testing.T) {
	// The reference 4.9.4 broker answers each with SUCCESS and no remark; mqadmin prints
	// "success".
	tb := startBroker(t, nil)
	tb.createTopic("M", 1)
	tb.send("M", 0, "kept", "")
	for _, code := range []remoting.RequestCode{remoting.CleanExpiredConsumequeue, remoting.DeleteExpiredCommitlog,
		remoting.CleanUnusedTopic} {
		resp := tb.invoke(&remoting.Command{Code: int32(code), Version: remoting.Version494})
		if resp.Code != int32(remoting.Success) || resp.Remark != "" || len(resp.Body) != 0 {
			t.Errorf("%s: %s %q %q", code, remoting.ResponseCode(resp.Code), resp.Remark, resp.Body)
		}
	}
	if got := tb.messagesIn("M", 0); len(got) != 1 {
		t.Errorf("messages after maintenance: %d", len(got))
	}
}
