package gateway

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseConfig feeds Parse and Validate arbitrary files: neither may panic, and every
// error Parse reports names the file, as an operator reading it needs (most also name the
// line).
func FuzzParseConfig(f *testing.F) {
	if example, err := os.ReadFile("../gateway.toml"); err == nil {
		f.Add(string(example))
		f.Add(strings.ReplaceAll(string(example), "\n", "\r\n"))
	}
	for _, s := range []string{
		"[http]\nlisten = \"127.0.0.1:1\"\n\n[client]\nnamesvr = [\"a:1\"]\n",
		"[producer.coalesce]\nenabled = true\nlingr = \"1ms\"\n",
		"[http]\nlisten = \"x:1\"\nclient.namesvr = []\n",
		"[client]\ninstance_name = \"\"\"\nnamesvr = 1\n\"\"\"\nnamesvr = 2\n",
		"[client]\nnamesrv = [\n  \"a:1\",\n  9876,\n]\n",
		"[client.acl]\naccess_key = \"${AK}\"\nsecret_key = '${SK}'\n",
		"[[plugin]]\nname = \"p\"\nfile = \"p.wasm\"\nslot = \"send\"\n[plugin.limits]\ndeadline = \"1ms\"\n[[plugin]]\nname = 'q'\n",
		"[[consumer]]\ngroup = \"g\"\ntopic = \"t\"\nexpression = \"*\"\nwebhook = \"http://x/\"\n[consumer.webhook_headers]\n\"a b\" = \"c\"\n",
		"[telemetry]\nsample_ratio = 2.0\nresource_attributes = { a = \"b\" }\n",
		"a.\"b.c\".'d' = 1\n",
		"[[consumer]]\ngroup = \"g\"\nsubscriptions = [ # c\n  { topic = \"[\" },\n  { topic = 5, expresion = '''x''' },\n]\nwebhook_headers = { A = 1 }\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := Parse("gateway.toml", []byte(src), func(string) (string, bool) { return "v", true })
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "gateway.toml") {
					t.Fatalf("error line %q does not name the file; whole error:\n%v", line, err)
				}
			}
			return
		}
		_ = cfg.Validate()
	})
}
