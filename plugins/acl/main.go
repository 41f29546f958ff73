// Command acl is Apache RocketMQ's plain ACL client hook (Java's AclClientRPCHook) as an
// RPC-hook plugin: it adds AccessKey (and SecurityToken) to every request and signs it
// with package aclsign, the signer of the native hook, the HMAC-SHA1 computed by the host
// (sdk.HMACSHA1), many times faster than SHA-1 in WebAssembly. Configuration:
//
//	{"accessKey": "RocketMQ", "secretKey": "12345678", "securityToken": ""}
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o acl.wasm .

import (
	"errors"
	"unsafe"

	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/plugins/jsonconfig"
	"github.com/mqgate/mqgate/sdk"
)

var (
	accessKey, securityToken string
	secretKey                []byte
	fields                   []sdk.Field // reused: the fields signed
	content                  []byte      // reused: what is signed
	signature                []byte      // reused: the host copies the answer out
)

func configure(config []byte) error {
	var c struct {
		AccessKey     string `json:"accessKey"`
		SecretKey     string `json:"secretKey"`
		SecurityToken string `json:"securityToken"`
	}
	if err := jsonconfig.Decode(config, &c); err != nil {
		return err
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return errors.New("accessKey and secretKey are required")
	}
	accessKey, securityToken = c.AccessKey, c.SecurityToken
	secretKey = []byte(c.SecretKey)
	return nil
}

// sign does what Java's AclClientRPCHook.doBeforeRequest does.
func sign(r *sdk.Request) error {
	fields = append(fields[:0], r.Fields...)
	fields = append(fields, sdk.Field{Key: aclsign.AccessKey, Value: accessKey})
	r.SetField(aclsign.AccessKey, accessKey)
	if securityToken != "" {
		fields = append(fields, sdk.Field{Key: aclsign.SecurityToken, Value: securityToken})
		r.SetField(aclsign.SecurityToken, securityToken)
	}
	content = aclsign.AppendContent(content[:0], fields, r.Body)
	signature = aclsign.AppendEncoded(signature[:0], sdk.HMACSHA1(secretKey, content))
	// A view, not a copy: the sdk copies fields set into its output before the next call.
	r.SetField(aclsign.Signature, unsafe.String(unsafe.SliceData(signature), len(signature)))
	if cap(content) > 64<<10 {
		content = nil // a large body once should not be kept for ever
	}
	return nil
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterRPCHook(sdk.RPCHook{BeforeRequest: sign})
}

func main() {}
