// Command acl is Apache RocketMQ's plain ACL client hook (Java's AclClientRPCHook) as an
// RPC-hook plugin: it adds AccessKey (and SecurityToken) to every request and signs it
// with package aclsign, the signer of the native hook. Configuration:
//
//	{"accessKey": "RocketMQ", "secretKey": "12345678", "securityToken": ""}
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o acl.wasm .

import (
	"encoding/json"
	"errors"

	"github.com/mqgate/mqgate/plugins/aclsign"
	"github.com/mqgate/mqgate/sdk"
)

var (
	accessKey, securityToken string
	signer                   *aclsign.Signer
	fields                   []sdk.Field // reused: the fields signed
)

func configure(config []byte) error {
	var c struct {
		AccessKey     string `json:"accessKey"`
		SecretKey     string `json:"secretKey"`
		SecurityToken string `json:"securityToken"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return err
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return errors.New("accessKey and secretKey are required")
	}
	accessKey, securityToken = c.AccessKey, c.SecurityToken
	signer = aclsign.NewSigner(c.SecretKey)
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
	r.SetField(aclsign.Signature, aclsign.SignWith(signer, fields, r.Body))
	return nil
}

func init() {
	sdk.Configure(configure)
	sdk.RegisterRPCHook(sdk.RPCHook{BeforeRequest: sign})
}

func main() {}
