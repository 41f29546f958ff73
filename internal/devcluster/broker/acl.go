package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/mqgate/mqgate/message"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/remoting"
)

// Access control: Java's plain ACL (acl/plain: PlainAccessValidator, PlainPermissionManager,
// Permission), turned on by Config.ACL. Every request is checked before its handler, as
// the RPC hook BrokerController.initialAcl installs: parse works out the resources a
// request needs from its code, validate lets it through a white address, or checks its
// AccessKey, its Signature (the algorithm of plugins/aclsign, the client's) and then each
// resource against the account's permissions. A refusal is the AclException Java's
// NettyRemotingAbstract turns into SYSTEM_ERROR, with the exception and where it was
// thrown as the remark (recordings 426-429); a oneway request just goes unanswered.

func init() { extensions = append(extensions, extension{name: "acl", install: installACL}) }

// Permission bits, Java's Permission.
const (
	permDeny byte = 1 << 0
	permAny  byte = 1 << 1
	permPub  byte = 1 << 2
	permSub  byte = 1 << 3
)

// uniqueKeyQueryFlag is MixAll.UNIQUE_MSG_QUERY_FLAG, left out of the signed content.
const uniqueKeyQueryFlag = "_UNIQUE_KEY_QUERY"

// maxRequestCode bounds the request codes the ACL checks besides those the broker serves:
// Java checks a request before it knows whether anything serves it. RocketMQ's codes are
// all below it; a request with a higher code is answered REQUEST_CODE_NOT_SUPPORTED
// unchecked (the transport has no default handler to wrap).
const maxRequestCode = 1024

// aclValidator is PlainPermissionManager's state: the global white addresses and the
// accounts by access key.
type aclValidator struct {
	globalWhite []addrMatcher
	accounts    map[string]*aclAccount
}

// aclAccount is a PlainAccessResource built from an account of plain_acl.yml.
type aclAccount struct {
	accessKey, secretKey string
	white                addrMatcher
	admin                bool
	defaultTopicPerm     byte
	defaultGroupPerm     byte
	perms                map[string]byte // topics, and groups as their retry topics; nil when none
}

func installACL(b *Broker) error {
	if b.cfg.ACL == nil {
		return nil
	}
	v, err := newACLValidator(b.cfg.ACL)
	if err != nil {
		return err
	}
	b.acl, b.aclEnabled = v, true
	for code := remoting.RequestCode(0); code < maxRequestCode; code++ {
		if _, ok := b.handlers[code]; !ok {
			b.handle(code, netpoll.NotSupported)
		}
	}
	b.wrappers = append(b.wrappers, func(_ remoting.RequestCode, h netpoll.Handler) netpoll.Handler {
		return func(ctx context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
			if remark := v.check(remoteAddrPort(c).Addr().String(), req); remark != "" {
				return response(req, remoting.SystemError, remark)
			}
			return h(ctx, c, req)
		}
	})
	return nil
}

// newACLValidator is PlainPermissionManager.load with buildPlainAccessResource.
func newACLValidator(cfg *ACLConfig) (*aclValidator, error) {
	v := &aclValidator{accounts: make(map[string]*aclAccount)}
	for _, a := range cfg.GlobalWhiteRemoteAddresses {
		m, err := parseAddrMatcher(a)
		if err != nil {
			return nil, fmt.Errorf("acl: globalWhiteRemoteAddresses: %w", err)
		}
		v.globalWhite = append(v.globalWhite, m)
	}
	for _, a := range cfg.Accounts {
		if len(a.AccessKey) <= 6 || len(a.SecretKey) <= 6 {
			return nil, fmt.Errorf("acl: The accessKey=%s and secretKey=%s cannot be null and length should longer than 6",
				a.AccessKey, a.SecretKey)
		}
		acct := &aclAccount{accessKey: a.AccessKey, secretKey: a.SecretKey, admin: a.Admin,
			defaultTopicPerm: parsePerm(a.DefaultTopicPerm), defaultGroupPerm: parsePerm(a.DefaultGroupPerm)}
		var err error
		if acct.white, err = parseAddrMatcher(a.WhiteRemoteAddress); err != nil {
			return nil, fmt.Errorf("acl: account %s: whiteRemoteAddress: %w", a.AccessKey, err)
		}
		// parseResourcePerms: the groups first, then the topics.
		for _, rp := range [...]struct {
			items []string
			kind  string
		}{{a.GroupPerms, "group"}, {a.TopicPerms, "topic"}} {
			for _, item := range rp.items {
				res, perm, ok := strings.Cut(item, "=")
				res = strings.TrimSpace(res)
				if !ok || res == "" || strings.Contains(perm, "=") {
					return nil, fmt.Errorf("acl: Parse resource permission failed for %s:%s", rp.kind, item)
				}
				if acct.perms == nil {
					acct.perms = make(map[string]byte)
				}
				if rp.kind == "group" {
					res = message.RetryTopic(res)
				}
				acct.perms[res] = parsePerm(perm)
			}
		}
		v.accounts[a.AccessKey] = acct
	}
	return v, nil
}

// parsePerm is Permission.parsePermFromString: anything unknown, or nothing, is DENY.
func parsePerm(s string) byte {
	switch strings.TrimSpace(s) {
	case "PUB":
		return permPub
	case "SUB":
		return permSub
	case "PUB|SUB", "SUB|PUB":
		return permPub | permSub
	}
	return permDeny
}

// checkPermission is Permission.checkPermission.
func checkPermission(needed, owned byte) bool {
	if owned&permDeny != 0 {
		return false
	}
	if needed&permAny != 0 {
		return owned&(permPub|permSub) != 0
	}
	return needed&owned != 0
}

// accessResource is the PlainAccessResource parse builds for a request.
type accessResource struct {
	remoteIP  string
	code      int32
	accessKey string
	hasKey    bool
	signature string
	resources javaProps // resource -> perm ("4" PUB, "8" SUB), in Java's HashMap order
}

func (r *accessResource) add(resource string, perm byte, ok bool) {
	if ok { // addResourceAndPerm ignores a null resource
		r.resources.put(resource, string(rune('0'+perm)))
	}
}

// check is parse and validate; it returns the remark of the refusal, "" when the
// request may pass.
func (v *aclValidator) check(remoteIP string, req *remoting.Command) string {
	r := accessResource{remoteIP: remoteIP, code: req.Code}
	r.resources.reset()
	if len(req.Ext) > 0 || req.KeepEmptyExt {
		if remark := parseResources(&r, req); remark != "" {
			return remark
		}
	}
	return v.validate(&r, req)
}

// parseResources is PlainAccessValidator.parse: the resources each kind of request
// needs. Other codes need none, only a valid signature. SEND_BATCH_MESSAGE is among
// them, and a SEND_MESSAGE to a retry topic names the group of a field it does not have,
// so it needs none either: both as in Java 4.9.4.
func parseResources(r *accessResource, req *remoting.Command) string {
	ext := req.Ext
	r.accessKey, r.hasKey = lastField(ext, aclsign.AccessKey)
	r.signature, _ = lastField(ext, aclsign.Signature)
	retry := func(group string, ok bool) (string, bool) { return message.RetryTopic(group), ok }
	switch remoting.RequestCode(req.Code) {
	case remoting.SendMessage:
		if topic, ok := lastField(ext, "topic"); strings.HasPrefix(topic, message.RetryTopicPrefix) {
			r.add(permSubOf(retry(lastField(ext, "group"))))
		} else {
			r.add(topic, permPub, ok)
		}
	case remoting.SendMessageV2:
		if topic, ok := lastField(ext, "b"); strings.HasPrefix(topic, message.RetryTopicPrefix) {
			r.add(permSubOf(retry(lastField(ext, "a"))))
		} else {
			r.add(topic, permPub, ok)
		}
	case remoting.ConsumerSendMessageBack:
		r.add(permSubOf(retry(lastField(ext, "group"))))
	case remoting.PullMessage:
		r.add(permSubOf(lastField(ext, "topic")))
		r.add(permSubOf(retry(lastField(ext, "consumerGroup"))))
	case remoting.QueryMessage:
		r.add(permSubOf(lastField(ext, "topic")))
	case remoting.Heartbeat:
		var hb remoting.HeartbeatData
		if err := hb.Decode(req.Body); err != nil {
			return parseFailure(err.Error())
		}
		for _, c := range hb.Consumers {
			r.add(message.RetryTopic(c.GroupName), permSub, true)
			for _, s := range c.Subscriptions {
				r.add(s.Topic, permSub, true)
			}
		}
	case remoting.UnregisterClient, remoting.GetConsumerListByGroup:
		// Java's decodeCommandCustomHeader leaves a missing field null (each field's
		// parse is in a try/catch), so these never fail to parse.
		r.add(permSubOf(retry(lastField(ext, "consumerGroup"))))
	case remoting.UpdateConsumerOffset:
		r.add(permSubOf(retry(lastField(ext, "consumerGroup"))))
		r.add(permSubOf(lastField(ext, "topic")))
	}
	return ""
}

func permSubOf(resource string, ok bool) (string, byte, bool) { return resource, permSub, ok }

// parseFailure is the AclException parse wraps its failures in.
func parseFailure(msg string) string {
	return "org.apache.rocketmq.acl.common.AclException: " + msg +
		", org.apache.rocketmq.acl.plain.PlainAccessValidator.parse(PlainAccessValidator.java:134)"
}

// aclFailure is the remark of an AclException thrown by PlainPermissionManager.
func aclFailure(method string, line int, format string, args ...any) string {
	return fmt.Sprintf("org.apache.rocketmq.acl.common.AclException: "+format, args...) +
		fmt.Sprintf(", org.apache.rocketmq.acl.plain.PlainPermissionManager.%s(PlainPermissionManager.java:%d)", method, line)
}

// validate is PlainPermissionManager.validate.
func (v *aclValidator) validate(r *accessResource, req *remoting.Command) string {
	for _, white := range v.globalWhite {
		if white(r.remoteIP) {
			return ""
		}
	}
	if !r.hasKey {
		return aclFailure("validate", 663, "No accessKey is configured")
	}
	acct := v.accounts[r.accessKey]
	if acct == nil {
		return aclFailure("validate", 667, "No acl config for %s", r.accessKey)
	}
	if acct.white(r.remoteIP) {
		return ""
	}
	// The content signed: every field but Signature and the unique-key query flag.
	fields := make([]aclsign.Field, 0, len(req.Ext))
	for _, f := range req.Ext {
		if f.Key != uniqueKeyQueryFlag {
			fields = append(fields, aclsign.Field(f))
		}
	}
	if aclsign.Sign(fields, req.Body, acct.secretKey) != r.signature {
		return aclFailure("validate", 683, "Check signature failed for accessKey=%s", r.accessKey)
	}
	// Message traces may always be published.
	if perm, ok := r.resources.get(message.SystemTopicTrace); ok && perm == string(rune('0'+permPub)) {
		return ""
	}
	return v.checkPerm(r, acct)
}

// checkPerm is PlainPermissionManager.checkPerm: the first resource, in the HashMap's
// order, that the account may not use refuses the request.
func (v *aclValidator) checkPerm(r *accessResource, acct *aclAccount) string {
	if needsAdmin(r.code) && !acct.admin {
		return aclFailure("checkPerm", 580, "Need admin permission for request code=%d, but accessKey=%s is not", r.code, acct.accessKey)
	}
	if len(r.resources.entries) == 0 || (acct.perms == nil && acct.admin) {
		return ""
	}
	r.resources.order()
	for _, e := range r.resources.entries {
		needed := e.value[0] - '0'
		isGroup := strings.HasPrefix(e.key, message.RetryTopicPrefix)
		owned, ok := acct.perms[e.key]
		line := 610
		if !ok {
			owned, line = acct.defaultTopicPerm, 605
			if isGroup {
				owned = acct.defaultGroupPerm
			}
		}
		if !checkPermission(needed, owned) {
			what := "topic:" + e.key
			if isGroup {
				what = "group:" + strings.TrimPrefix(e.key, message.RetryTopicPrefix)
			}
			return aclFailure("checkPerm", line, "No default permission for %s", what)
		}
	}
	return ""
}

// needsAdmin is Permission.needAdminPerm.
func needsAdmin(code int32) bool {
	switch remoting.RequestCode(code) {
	case remoting.UpdateAndCreateTopic, remoting.UpdateBrokerConfig, remoting.DeleteTopicInBroker,
		remoting.UpdateAndCreateSubscriptionGroup, remoting.DeleteSubscriptionGroup:
		return true
	}
	return false
}

// lastField returns the last value of key: Java reads extFields into a HashMap.
func lastField(ext remoting.ExtFields, key string) (string, bool) {
	for i := len(ext) - 1; i >= 0; i-- {
		if ext[i].Key == key {
			return ext[i].Value, true
		}
	}
	return "", false
}
