package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/remoting"
)

// distributionACL is distribution/conf/plain_acl.yml of Apache RocketMQ 4.9.4, the file
// of the reference ACL broker: account RocketMQ/12345678 may publish and subscribe
// topicB, is denied topicA, may subscribe topicC and any group but groupA.
const distributionACL = `globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB
  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    admin: true
`

var aclCredentials = primitive.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}

// startACLCluster returns the real ACL-enabled pair when ROCKETMQ_ACL_NAMESRV is set (for
// example 127.0.0.1:9878), else a devcluster with the distribution's plain_acl.yml.
func startACLCluster(t *testing.T) *cluster {
	t.Helper()
	if ns := os.Getenv("ROCKETMQ_ACL_NAMESRV"); ns != "" {
		c := &cluster{namesrv: ns, real: true, delayUnit: time.Second}
		c.broker = c.masterBroker(t)
		return c
	}
	if os.Getenv("ROCKETMQ_NAMESRV") != "" {
		t.Skip("against a real broker: set ROCKETMQ_ACL_NAMESRV to its ACL-enabled pair")
	}
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(distributionACL), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := startDevClusterWith(t, func(cfg *devcluster.Config) { cfg.ACL = path })
	return c
}

// signed signs req with the account as AclClientRPCHook does.
func signed(req *remoting.Command, accessKey, secretKey string) *remoting.Command {
	req.Ext.Set(aclsign.AccessKey, accessKey)
	req.Ext.Set(aclsign.Signature, aclsign.Sign(req.Ext, req.Body, secretKey))
	return req
}

func TestACLAnswersAsJava(t *testing.T) {
	c := startACLCluster(t)
	const where = ", org.apache.rocketmq.acl.plain.PlainPermissionManager."
	tampered := signed(sendV2("topicB", nil), "RocketMQ", "12345678")
	tampered.Body = []byte("tampered")
	for _, tc := range []struct {
		name   string
		req    *remoting.Command
		code   remoting.ResponseCode
		remark string
	}{
		{"an unsigned send is refused", sendV2("topicB", nil), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No accessKey is configured" + where + "validate(PlainPermissionManager.java:663)"},
		{"an unknown account is refused", signed(sendV2("topicB", nil), "nobody00", "12345678"), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No acl config for nobody00" + where + "validate(PlainPermissionManager.java:667)"},
		{"a wrong signature is refused", tampered, remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=RocketMQ" + where +
				"validate(PlainPermissionManager.java:683)"},
		{"a send to a denied topic is refused", signed(sendV2("topicA", nil), "RocketMQ", "12345678"), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No default permission for topic:topicA" + where +
				"checkPerm(PlainPermissionManager.java:610)"},
		{"a send to an unlisted topic gets the default DENY", signed(sendV2("topicZ", nil), "RocketMQ", "12345678"),
			remoting.SystemError, "org.apache.rocketmq.acl.common.AclException: No default permission for topic:topicZ" + where +
				"checkPerm(PlainPermissionManager.java:605)"},
		{"a pull by a denied group is refused", signed(func() *remoting.Command {
			r := pullOf("topicC", 0)
			r.Ext.Set("consumerGroup", "groupA")
			return r
		}(), "RocketMQ", "12345678"), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No default permission for group:groupA" + where +
				"checkPerm(PlainPermissionManager.java:610)"},
		{"a pull of a SUB topic by an unlisted group passes", signed(pullOf("topicC", 0), "RocketMQ", "12345678"), remoting.Success, ""},
		{"creating a topic needs an admin", signed(&remoting.Command{Code: int32(remoting.UpdateAndCreateTopic),
			Ext: remoting.ExtFields{{Key: "topic", Value: "T"}, {Key: "defaultTopic", Value: "TBW102"}, {Key: "readQueueNums", Value: "1"},
				{Key: "writeQueueNums", Value: "1"}, {Key: "perm", Value: "6"}, {Key: "topicFilterType", Value: "SINGLE_TAG"}}},
			"RocketMQ", "12345678"), remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: Need admin permission for request code=17, but accessKey=RocketMQ is not" +
				where + "checkPerm(PlainPermissionManager.java:580)"},
		{"an unknown code is checked before it is found unknown", &remoting.Command{Code: 999}, remoting.SystemError,
			"org.apache.rocketmq.acl.common.AclException: No accessKey is configured" + where + "validate(PlainPermissionManager.java:663)"},
		{"a signed send to an allowed topic is stored", signed(sendV2("topicB", nil), "RocketMQ", "12345678"), remoting.Success, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := invoke(t, c.broker, tc.req)
			if tc.code == remoting.Success && tc.req.Code == int32(remoting.PullMessage) {
				// The pull's answer depends on what topicC holds; only the ACL's verdict matters.
				if strings.HasPrefix(resp.Remark, "org.apache.rocketmq.acl") {
					t.Errorf("refused: %q", resp.Remark)
				}
				return
			}
			if resp.Code != int32(tc.code) || resp.Remark != tc.remark {
				t.Errorf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
		})
	}

	// rocketmq-client-go signs with its credentials; without them it is refused.
	group := name(t, "G")
	p := newProducer(t, c, group+"_p", producer.WithCredentials(aclCredentials))
	m := primitive.NewMessage("topicB", []byte("signed by rocketmq-client-go"))
	key := name(t, "K")
	m.WithKeys([]string{key})
	if res, err := p.SendSync(ctxFor(t, 10*time.Second), m); err != nil || res.Status != primitive.SendOK {
		t.Fatalf("signed send: %v %+v", err, res)
	}
	unsigned := newProducer(t, c, group+"_unsigned")
	if _, err := unsigned.SendSync(ctxFor(t, 10*time.Second), primitive.NewMessage("topicB", []byte("unsigned"))); err == nil ||
		!strings.Contains(err.Error(), "No accessKey is configured") {
		t.Errorf("unsigned send: %v", err)
	}
	col := &collector{}
	newPushConsumer(t, c, group, "acl", "topicB", "*", col, consumer.WithCredentials(aclCredentials))
	eventually(t, 60*time.Second, "the signed message consumed", func() bool {
		for _, r := range col.messages() {
			if r.msg.GetKeys() == key {
				return true
			}
		}
		return false
	})
}
