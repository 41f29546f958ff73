package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/remoting"
)

// distributionACL is the 4.9.4 distribution's plain_acl.yml, the recordings' ACL.
func distributionACL() *ACLConfig {
	return &ACLConfig{
		GlobalWhiteRemoteAddresses: []string{"10.10.103.*", "192.168.0.*"},
		Accounts: []ACLAccount{
			{AccessKey: "RocketMQ", SecretKey: "12345678", DefaultTopicPerm: "DENY", DefaultGroupPerm: "SUB",
				TopicPerms: []string{"topicA=DENY", "topicB=PUB|SUB", "topicC=SUB"},
				GroupPerms: []string{"groupA=DENY", "groupB=PUB|SUB", "groupC=SUB"}},
			{AccessKey: "rocketmq2", SecretKey: "12345678", WhiteRemoteAddress: "192.168.1.*", Admin: true},
		},
	}
}

// signed signs req as AclClientRPCHook does.
func signed(req *remoting.Command, accessKey, secretKey string) *remoting.Command {
	req.Ext.Set(aclsign.AccessKey, accessKey)
	req.Ext.Set(aclsign.Signature, aclsign.Sign(remoting.AllFields(nil, req), req.Body, secretKey))
	return req
}

// aclRemark is the remark of an AclException thrown by PlainPermissionManager.
func aclRemark(msg, method string, line string) string {
	return "org.apache.rocketmq.acl.common.AclException: " + msg +
		", org.apache.rocketmq.acl.plain.PlainPermissionManager." + method + "(PlainPermissionManager.java:" + line + ")"
}

func TestACLChecksEveryRequestAsJava(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.ACL = distributionACL() })
	for _, topic := range []string{"topicA", "topicB", "topicC", "topicZ"} {
		tb.b.topics.update(&remoting.TopicConfig{TopicName: topic, ReadQueueNums: 1, WriteQueueNums: 1, Perm: permRW,
			TopicFilterType: singleTag})
	}
	send := func(topic string) *remoting.Command { return sendRequest(topic, 0, []byte("body"), props("TAGS", "T")) }
	pull := func(topic, group string) *remoting.Command {
		return request(remoting.PullMessage, pullHeader(group, topic, 0, 0, "*"))
	}
	heartbeatOf := func(group, topic string) *remoting.Command {
		hb := remoting.HeartbeatData{ClientID: "c", Consumers: []remoting.ConsumerData{pushConsumer(t, group, topic, "*")}}
		return &remoting.Command{Code: int32(remoting.Heartbeat), Version: remoting.Version494, Body: hb.Encode()}
	}
	wrongSignature := signed(send("topicB"), "RocketMQ", "12345678")
	wrongSignature.Body = []byte("tampered")
	for _, tc := range []struct {
		name   string
		req    *remoting.Command
		code   remoting.ResponseCode
		remark string // "" with SUCCESS; a prefix otherwise
	}{
		{"an unsigned send is refused (recording 426)", send("topicB"), remoting.SystemError,
			aclRemark("No accessKey is configured", "validate", "663")},
		{"an unsigned heartbeat is refused (recording 427)", heartbeatOf("groupB", "topicB"), remoting.SystemError,
			aclRemark("No accessKey is configured", "validate", "663")},
		{"an unknown access key is refused", signed(send("topicB"), "nobody00", "12345678"), remoting.SystemError,
			aclRemark("No acl config for nobody00", "validate", "667")},
		{"a wrong signature is refused", wrongSignature, remoting.SystemError,
			aclRemark("Check signature failed for accessKey=RocketMQ", "validate", "683")},
		{"a signed send to a PUB|SUB topic passes", signed(send("topicB"), "RocketMQ", "12345678"), remoting.Success, ""},
		{"a send to a DENY topic is refused", signed(send("topicA"), "RocketMQ", "12345678"), remoting.SystemError,
			aclRemark("No default permission for topic:topicA", "checkPerm", "610")},
		{"a send to a SUB topic is refused", signed(send("topicC"), "RocketMQ", "12345678"), remoting.SystemError,
			aclRemark("No default permission for topic:topicC", "checkPerm", "610")},
		{"a send to an unlisted topic has the default DENY", signed(send("topicZ"), "RocketMQ", "12345678"), remoting.SystemError,
			aclRemark("No default permission for topic:topicZ", "checkPerm", "605")},
		{"message traces may always be sent", signed(send("RMQ_SYS_TRACE_TOPIC"), "RocketMQ", "12345678"), remoting.Success, ""},
		{"a batch is checked for its signature only, as in Java", func() *remoting.Command {
			r := sendRequest("topicA", 0, []byte{0, 0, 0, 0}, "")
			r.Code = int32(remoting.SendBatchMessage)
			r.Header.(*remoting.SendRequestV2).Batch = true
			return signed(r, "RocketMQ", "12345678")
		}(), remoting.SystemError, "java.nio.BufferUnderflowException"},
		{"a pull needs SUB on the topic and the group", signed(pull("topicC", "groupB"), "RocketMQ", "12345678"),
			remoting.PullNotFound, "NO_MESSAGE_IN_QUEUE"},
		{"a pull by a DENY group is refused", signed(pull("topicC", "groupA"), "RocketMQ", "12345678"), remoting.SystemError,
			aclRemark("No default permission for group:groupA", "checkPerm", "610")},
		{"an unlisted group has the default SUB", signed(pull("topicB", "groupZ"), "RocketMQ", "12345678"),
			remoting.Success, "FOUND"},
		{"a heartbeat subscribing a DENY topic is refused", signed(heartbeatOf("groupB", "topicA"), "RocketMQ", "12345678"),
			remoting.SystemError, aclRemark("No default permission for topic:topicA", "checkPerm", "610")},
		{"creating a topic needs an admin", signed(request(remoting.UpdateAndCreateTopic, &remoting.CreateTopicRequest{
			Topic: "T", DefaultTopic: "TBW102", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6, TopicFilterType: singleTag}),
			"RocketMQ", "12345678"), remoting.SystemError,
			aclRemark("Need admin permission for request code=17, but accessKey=RocketMQ is not", "checkPerm", "580")},
		{"an unregister without its client id is checked for its group", signed(&remoting.Command{Code: int32(remoting.UnregisterClient),
			Ext: remoting.ExtFields{{Key: "consumerGroup", Value: "groupA"}}}, "RocketMQ", "12345678"), remoting.SystemError,
			aclRemark("No default permission for group:groupA", "checkPerm", "610")},
		{"a heartbeat that is not JSON fails to parse", signed(&remoting.Command{Code: int32(remoting.Heartbeat),
			Body: []byte("{oops")}, "RocketMQ", "12345678"), remoting.SystemError, "org.apache.rocketmq.acl.common.AclException: "},
		{"an unknown code is checked first", &remoting.Command{Code: 999}, remoting.SystemError,
			aclRemark("No accessKey is configured", "validate", "663")},
		{"and then not supported", signed(&remoting.Command{Code: 999}, "RocketMQ", "12345678"),
			remoting.RequestCodeNotSupported, " request type 999 not supported"},
		{"a code the broker does not serve is checked first", &remoting.Command{Code: int32(remoting.ViewBrokerStatsData)},
			remoting.SystemError, aclRemark("No accessKey is configured", "validate", "663")},
		{"and then not supported", signed(&remoting.Command{Code: int32(remoting.ViewBrokerStatsData)}, "RocketMQ", "12345678"),
			remoting.RequestCodeNotSupported, " request type 315 not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := tb.invoke(tc.req)
			if resp.Code != int32(tc.code) || !strings.HasPrefix(resp.Remark, tc.remark) {
				t.Errorf("answered %s %q, want %s %q", remoting.ResponseCode(resp.Code), resp.Remark, tc.code, tc.remark)
			}
			if tc.code == remoting.SystemError && strings.HasPrefix(tc.remark, "org.apache.rocketmq.acl") && len(resp.Ext) != 0 {
				t.Errorf("a refusal carries fields %v", resp.Ext)
			}
		})
	}
	// A oneway request that is refused is dropped: the offset is not committed.
	upd := request(remoting.UpdateConsumerOffset, &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "groupB", Topic: "topicB", CommitOffset: 5})
	if err := tb.cl.InvokeOneway(context.Background(), tb.addr, upd); err != nil {
		t.Fatal(err)
	}
	signedUpd := signed(request(remoting.UpdateConsumerOffset, &remoting.UpdateConsumerOffsetRequest{ConsumerGroup: "groupB",
		Topic: "topicB", QueueID: 0, CommitOffset: 7}), "RocketMQ", "12345678")
	if err := tb.cl.InvokeOneway(context.Background(), tb.addr, signedUpd); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the signed offset update", 5*time.Second, func() bool { return tb.b.offsets.query("groupB", "topicB", 0) == 7 })
}

func TestACLWhiteAddressesSkipTheSignature(t *testing.T) {
	for _, tc := range []struct {
		name   string
		global []string
		white  string
		code   remoting.ResponseCode
	}{
		{"a global white range", []string{"127.0.0.*"}, "", remoting.Success},
		{"a global white list", []string{"10.0.0.1,127.0.0.1"}, "", remoting.Success},
		{"an account's white address needs its access key", nil, "127.0.0.1", remoting.Success},
		{"another address is no help", []string{"10.10.103.*"}, "192.168.1.{1,2}", remoting.SystemError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := startBroker(t, func(c *Config) {
				c.ACL = &ACLConfig{GlobalWhiteRemoteAddresses: tc.global, Accounts: []ACLAccount{
					{AccessKey: "whitekey", SecretKey: "12345678", WhiteRemoteAddress: tc.white, DefaultTopicPerm: "DENY"}}}
			})
			req := sendRequest("TBW102x", 0, []byte("body"), "")
			if tc.global == nil {
				req.Ext.Set(aclsign.AccessKey, "whitekey") // no signature, no permission: the address suffices
			}
			if resp := tb.invoke(req); resp.Code != int32(tc.code) {
				t.Errorf("answered %s %q, want %s", remoting.ResponseCode(resp.Code), resp.Remark, tc.code)
			}
		})
	}
}

func TestAddressMatchersAreJavas(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		miss    []string
		bad     bool
	}{
		{pattern: "", miss: []string{"127.0.0.1"}},
		{pattern: "*", match: []string{"127.0.0.1", "::1"}},
		{pattern: "*.*.*.*", match: []string{"10.1.2.3"}},
		{pattern: "192.168.1.*", match: []string{"192.168.1.0", "192.168.1.255"}, miss: []string{"192.168.2.1", "::1"}},
		{pattern: "192.168.*.*", match: []string{"192.168.7.9"}, miss: []string{"192.169.7.9"}},
		{pattern: "192.168.1.10-20", match: []string{"192.168.1.10", "192.168.1.20"}, miss: []string{"192.168.1.9", "192.168.1.21"}},
		{pattern: "192.168.1.{1,2,3}", match: []string{"192.168.1.2"}, miss: []string{"192.168.1.4"}},
		{pattern: "10.0.0.1,10.0.0.2", match: []string{"10.0.0.2"}, miss: []string{"10.0.0.3"}},
		{pattern: "127.0.0.1", match: []string{"127.0.0.1"}, miss: []string{"127.0.0.2"}},
		{pattern: "::1", match: []string{"::1", "0:0:0:0:0:0:0:1"}, miss: []string{"127.0.0.1"}},
		{pattern: "not-an-ip", bad: true},
		{pattern: "192.168.1.20-10", bad: true},
		{pattern: "192.168.{1,2}", bad: true},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			m, err := parseAddrMatcher(tc.pattern)
			if (err != nil) != tc.bad {
				t.Fatalf("error %v, want one: %v", err, tc.bad)
			}
			for _, ip := range tc.match {
				if !m(ip) {
					t.Errorf("%s does not match", ip)
				}
			}
			for _, ip := range tc.miss {
				if m(ip) {
					t.Errorf("%s matches", ip)
				}
			}
		})
	}
}
