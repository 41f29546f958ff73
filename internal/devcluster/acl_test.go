package devcluster

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mqgate/mqgate/internal/devcluster/broker"
)

// distributionACL is distribution/conf/plain_acl.yml of Apache RocketMQ 4.9.4, the file
// the ACL recordings were made with (license header left out, trailing spaces kept).
const distributionACL = `
globalWhiteRemoteAddresses:
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
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
    
`

// javaWrittenACL is the layout Java writes when it updates the file (snakeyaml's block
// style: sequences at their key's indentation), with its dataVersion section.
const javaWrittenACL = `globalWhiteRemoteAddresses:
- 10.10.103.*
- 192.168.0.*
accounts:
- accessKey: RocketMQ
  secretKey: '12345678'
  whiteRemoteAddress: "192.168.0.*"
  admin: false
  defaultTopicPerm: DENY
  defaultGroupPerm: SUB
  topicPerms:
  - topicA=DENY
  - topicB=PUB|SUB
  groupPerms: [groupA=DENY, groupB=SUB]
- accessKey: rocketmq2
  secretKey: 12345678 # a comment after a value
  admin: true
dataVersion:
- counter: 1
  timestamp: 1656046440227
`

func TestParseACL(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want *broker.ACLConfig
	}{
		{"the 4.9.4 distribution's plain_acl.yml", distributionACL, &broker.ACLConfig{
			GlobalWhiteRemoteAddresses: []string{"10.10.103.*", "192.168.0.*"},
			Accounts: []broker.ACLAccount{
				{AccessKey: "RocketMQ", SecretKey: "12345678", DefaultTopicPerm: "DENY", DefaultGroupPerm: "SUB",
					TopicPerms: []string{"topicA=DENY", "topicB=PUB|SUB", "topicC=SUB"},
					GroupPerms: []string{"groupA=DENY", "groupB=PUB|SUB", "groupC=SUB"}},
				{AccessKey: "rocketmq2", SecretKey: "12345678", WhiteRemoteAddress: "192.168.1.*", Admin: true},
			}}},
		{"a file as Java rewrites it", javaWrittenACL, &broker.ACLConfig{
			GlobalWhiteRemoteAddresses: []string{"10.10.103.*", "192.168.0.*"},
			Accounts: []broker.ACLAccount{
				{AccessKey: "RocketMQ", SecretKey: "12345678", WhiteRemoteAddress: "192.168.0.*",
					DefaultTopicPerm: "DENY", DefaultGroupPerm: "SUB",
					TopicPerms: []string{"topicA=DENY", "topicB=PUB|SUB"},
					GroupPerms: []string{"groupA=DENY", "groupB=SUB"}},
				{AccessKey: "rocketmq2", SecretKey: "12345678", Admin: true},
			}}},
		{"only global white addresses", "globalWhiteRemoteAddresses: []\n", &broker.ACLConfig{}},
		{"an empty file", "# nothing\n", &broker.ACLConfig{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseACL("plain_acl.yml", tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseACLErrorsSayWhere(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"tab indentation", "accounts:\n\t- accessKey: x\n", "plain_acl.yml:2: tab in indentation"},
		{"unknown top-level key", "globalWhiteRemoteAddresses: []\naccount:\n  - x\n", `plain_acl.yml:3: unknown key "account"`},
		{"misspelt account key", "accounts:\n- accessKey: RocketMQ\n  secretkey: 12345678\n", `plain_acl.yml:3: unknown account key "secretkey"`},
		{"short secret key", "accounts:\n- accessKey: RocketMQ\n  secretKey: 1234\n",
			"plain_acl.yml:2: The accessKey=RocketMQ and secretKey=1234 cannot be null and length should longer than 6"},
		{"unknown permission", "accounts:\n- accessKey: RocketMQ\n  secretKey: 12345678\n  defaultTopicPerm: ALL\n",
			`plain_acl.yml:4: defaultTopicPerm: "ALL" is not DENY, PUB, SUB or PUB|SUB`},
		{"resource permission without a resource", "accounts:\n- accessKey: RocketMQ\n  secretKey: 12345678\n  topicPerms:\n  - PUB\n",
			`plain_acl.yml:5: topicPerms: "PUB" is not resource=PERM`},
		{"a list at the top", "- accessKey: RocketMQ\n  secretKey: 12345678\n", "plain_acl.yml:1: the file must be a mapping"},
		{"unterminated quote", "accounts:\n- accessKey: 'RocketMQ\n", "plain_acl.yml:2: unterminated quoted string"},
		{"anchors", "accounts: &a\n", "plain_acl.yml:1: \"&a\": this YAML feature is not supported"},
		{"bad indentation", "accounts:\n- accessKey: RocketMQ\n     secretKey: 12345678\n", "plain_acl.yml:3: unexpected indentation"},
		{"duplicate key", "accounts: []\naccounts: []\n", `plain_acl.yml:2: duplicate key "accounts"`},
		{"admin not a boolean", "accounts:\n- accessKey: RocketMQ\n  secretKey: 12345678\n  admin: yes\n", `plain_acl.yml:4: admin: "yes" is not true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseACL("plain_acl.yml", tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadACLReadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(distributionACL), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadACL(path)
	if err != nil || len(cfg.Accounts) != 2 {
		t.Fatalf("%+v %v", cfg, err)
	}
	if _, err := LoadACL(filepath.Join(t.TempDir(), "missing.yml")); err == nil {
		t.Fatal("a missing file was accepted")
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add(distributionACL)
	f.Add(javaWrittenACL)
	f.Add("a: [x, 'y''z', \"w\\n\"]\nb:\n  c: ~\n")
	f.Fuzz(func(t *testing.T, src string) {
		_, _ = parseACL("fuzz.yml", src) // must not panic or loop
	})
}
