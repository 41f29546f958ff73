package instance

import (
	"sync"

	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/remoting"
)

// NewACLHook returns the RPC hook of Apache RocketMQ's plain ACL, which signs every request
// as Java's AclClientRPCHook: it adds AccessKey (and SecurityToken, when not empty) to the
// extFields, then Signature, the HMAC-SHA1 under secretKey of the values of all extFields
// (typed header fields included, sorted by key) followed by the body (package
// plugins/aclsign, the same source as the WebAssembly plugin). Responses are not checked.
// The broker refuses a request signed with a wrong or empty key (SYSTEM_ERROR,
// ErrSystemError).
func NewACLHook(accessKey, secretKey, securityToken string) RPCHook {
	return &aclHook{accessKey: accessKey, securityToken: securityToken, signer: aclsign.NewSigner(secretKey)}
}

type aclHook struct {
	accessKey     string
	securityToken string
	signer        *aclsign.Signer
	fields        sync.Pool // of *remoting.ExtFields, the fields gathered for one signature
}

func (h *aclHook) BeforeRequest(_ string, req *remoting.Command) error {
	req.Ext.Set(aclsign.AccessKey, h.accessKey)
	if h.securityToken != "" {
		req.Ext.Set(aclsign.SecurityToken, h.securityToken)
	}
	fp, _ := h.fields.Get().(*remoting.ExtFields)
	if fp == nil {
		fp = new(remoting.ExtFields)
	}
	fields := remoting.AllFields((*fp)[:0], req)
	sig := aclsign.SignWith(h.signer, fields, req.Body)
	req.Ext.Set(aclsign.Signature, sig)
	clear(fields)
	*fp = fields[:0]
	h.fields.Put(fp)
	return nil
}

func (h *aclHook) AfterResponse(string, *remoting.Command, *remoting.Command) error { return nil }
