package devcluster

import (
	"fmt"
	"os"
	"strings"

	"github.com/mqgate/mqgate/internal/devcluster/broker"
)

// LoadACL reads a plain_acl.yml as Apache RocketMQ 4.9.4's PlainPermissionManager does:
// globalWhiteRemoteAddresses, and accounts with accessKey, secretKey,
// whiteRemoteAddress, admin, defaultTopicPerm, defaultGroupPerm, topicPerms and
// groupPerms. A dataVersion section, which Java writes when it updates the file, is
// ignored. Unknown keys are errors rather than ignored as Java does: a misspelt
// secretKey should not silently lock a test out.
func LoadACL(path string) (*broker.ACLConfig, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	return parseACL(path, string(src))
}

func parseACL(file, src string) (*broker.ACLConfig, error) {
	root, err := parseYAML(file, src)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	a := aclReader{file: file}
	cfg := &broker.ACLConfig{}
	if root.isSeq || root.scalar != nil {
		return nil, a.errorf(root, "the file must be a mapping with globalWhiteRemoteAddresses and accounts")
	}
	for _, e := range root.mapping {
		switch e.key {
		case "globalWhiteRemoteAddresses":
			cfg.GlobalWhiteRemoteAddresses = a.strings(e)
		case "accounts":
			if e.value.scalar != nil || e.value.isMap {
				a.fail(e.value, "accounts must be a list")
				continue
			}
			for _, item := range e.value.seq {
				if acct, ok := a.account(item); ok {
					cfg.Accounts = append(cfg.Accounts, acct)
				}
			}
		case "dataVersion":
		default:
			a.fail(e.value, fmt.Sprintf("unknown key %q", e.key))
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	return cfg, nil
}

// aclReader keeps the first error while reading the parsed file.
type aclReader struct {
	file string
	err  error
}

func (a *aclReader) errorf(n *yamlNode, format string, args ...any) error {
	return fmt.Errorf("acl: %s:%d: %s", a.file, n.line, fmt.Sprintf(format, args...))
}

func (a *aclReader) fail(n *yamlNode, msg string) {
	if a.err == nil {
		a.err = a.errorf(n, "%s", msg)
	}
}

func (a *aclReader) str(e yamlEntry) string {
	switch {
	case e.value.scalar != nil:
		return *e.value.scalar
	case e.value.isSeq || e.value.isMap:
		a.fail(e.value, e.key+" must be a single value")
	}
	return "" // null
}

func (a *aclReader) strings(e yamlEntry) []string {
	if e.value.scalar != nil || e.value.isMap {
		a.fail(e.value, e.key+" must be a list")
		return nil
	}
	var out []string
	for _, item := range e.value.seq {
		if item.scalar == nil {
			a.fail(item, e.key+" items must be single values")
			continue
		}
		out = append(out, *item.scalar)
	}
	return out
}

// account reads one entry of accounts.
func (a *aclReader) account(n *yamlNode) (broker.ACLAccount, bool) {
	var acct broker.ACLAccount
	if !n.isMap {
		a.fail(n, "an account must be a mapping")
		return acct, false
	}
	for _, e := range n.mapping {
		switch e.key {
		case "accessKey":
			acct.AccessKey = a.str(e)
		case "secretKey":
			acct.SecretKey = a.str(e)
		case "whiteRemoteAddress":
			acct.WhiteRemoteAddress = a.str(e)
		case "admin":
			switch v := strings.ToLower(a.str(e)); v {
			case "true":
				acct.Admin = true
			case "false", "":
			default:
				a.fail(e.value, fmt.Sprintf("admin: %q is not true or false", v))
			}
		case "defaultTopicPerm":
			acct.DefaultTopicPerm = a.perm(e)
		case "defaultGroupPerm":
			acct.DefaultGroupPerm = a.perm(e)
		case "topicPerms":
			acct.TopicPerms = a.resourcePerms(e)
		case "groupPerms":
			acct.GroupPerms = a.resourcePerms(e)
		default:
			a.fail(e.value, fmt.Sprintf("unknown account key %q", e.key))
		}
	}
	if len(acct.AccessKey) <= 6 || len(acct.SecretKey) <= 6 { // Java's checkPlainAccessConfig
		a.fail(n, fmt.Sprintf("The accessKey=%s and secretKey=%s cannot be null and length should longer than 6",
			acct.AccessKey, acct.SecretKey))
		return acct, false
	}
	return acct, true
}

// perm checks a permission as Permission.parsePermFromString reads it.
func (a *aclReader) perm(e yamlEntry) string {
	v := strings.TrimSpace(a.str(e))
	switch v {
	case "", "DENY", "PUB", "SUB", "PUB|SUB", "SUB|PUB":
		return v
	}
	a.fail(e.value, fmt.Sprintf("%s: %q is not DENY, PUB, SUB or PUB|SUB", e.key, v))
	return v
}

// resourcePerms reads "resource=PERM" items.
func (a *aclReader) resourcePerms(e yamlEntry) []string {
	items := a.strings(e)
	for _, it := range items {
		res, perm, ok := strings.Cut(it, "=")
		if !ok || res == "" {
			a.fail(e.value, fmt.Sprintf("%s: %q is not resource=PERM", e.key, it))
			continue
		}
		a.perm(yamlEntry{key: e.key, value: &yamlNode{line: e.value.line, scalar: &perm}})
	}
	return items
}
