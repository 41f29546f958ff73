package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/internal/devcluster"
	"github.com/mqgate/mqgate/remoting"
)

// Tokens of the topic and group administration.
const (
	tokTopicsRead  = "topics-read-0123456789"
	tokTopicsWrite = "topics-write-012345678"
	tokGroupsRead  = "groups-read-0123456789"
	tokGroupsWrite = "groups-write-012345678"
)

// opsGateway starts a dev cluster (queues per auto-created topic: 2) and a gateway on it
// with the admin API and a token per scope.
func opsGateway(t *testing.T) (*Gateway, *devcluster.Cluster) {
	t.Helper()
	dc := startDevCluster(t, devcluster.Config{QueuesPerTopic: 2})
	cfg := adminConfig(dc.NameServerAddr(), t.TempDir())
	cfg.Admin.Tokens = append(cfg.Admin.Tokens,
		AdminToken{Name: "topics-read", Token: tokTopicsRead, Scopes: []string{ScopeTopicsRead}},
		AdminToken{Name: "topics-write", Token: tokTopicsWrite, Scopes: []string{ScopeTopicsWrite}},
		AdminToken{Name: "groups-read", Token: tokGroupsRead, Scopes: []string{ScopeGroupsRead}},
		AdminToken{Name: "groups-write", Token: tokGroupsWrite, Scopes: []string{ScopeGroupsWrite}})
	return startGateway(t, cfg), dc
}

// decodeInto unmarshals a reply's raw body.
func decodeInto(t *testing.T, r reply, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.raw), v); err != nil {
		t.Fatalf("%v: %s", err, r.raw)
	}
}

func TestAdminTopics(t *testing.T) {
	g, dc := opsGateway(t)
	call := func(method, path, tok, body string) reply {
		return callAdmin(t, g, adminCall{method: method, path: path, token: tok, body: []byte(body)})
	}

	// Created with defaults on the only cluster, then narrowed on the cluster named.
	r := call("PUT", "/v1/topics/OpsTopic", tokTopicsWrite, "")
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	var ans topicAnswer
	decodeInto(t, r, &ans)
	if ans.Cluster != "DefaultCluster" || ans.ReadQueues != 8 || ans.WriteQueues != 8 || ans.Perm != 6 ||
		len(ans.Brokers) != 1 || !ans.Brokers[0].OK || ans.Brokers[0].Addr != dc.BrokerAddr() {
		t.Errorf("create answered %+v", ans)
	}
	r = call("PUT", "/v1/topics/OpsTopic", tokTopicsWrite, `{"cluster":"DefaultCluster","read_queues":3,"write_queues":3,"perm":4}`)
	if r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	waitFor(t, 10*time.Second, "the updated route", func() bool {
		route, err := g.inst.GetRouteInfo(ctxFor(t, 5*time.Second), "OpsTopic")
		return err == nil && len(route.Queues) == 1 && route.Queues[0].ReadQueueNums == 3 && route.Queues[0].Perm == 4
	})

	// Listed, with the read scope, sorted.
	for _, path := range []string{"/v1/topics", "/v1/clusters/DefaultCluster/topics"} {
		r := call("GET", path, tokTopicsRead, "")
		var l topicList
		decodeInto(t, r, &l)
		if r.status != http.StatusOK || !slices.Contains(l.Topics, "OpsTopic") || !slices.IsSorted(l.Topics) {
			t.Errorf("GET %s: %d %s", path, r.status, r.raw)
		}
	}

	for _, tt := range []struct {
		name                string
		method, path, token string
		body                string
		status              int
		code, mentions      string
	}{
		{"an unknown cluster's topics", "GET", "/v1/clusters/nope/topics", tokTopicsRead, "", 404, codeClusterNotFound, `"nope"`},
		{"a topic on an unknown cluster", "PUT", "/v1/topics/T2", tokTopicsWrite, `{"cluster":"nope"}`, 404, codeClusterNotFound, "DefaultCluster"},
		{"a field the API does not know", "PUT", "/v1/topics/T2", tokTopicsWrite, `{"queues":4}`, 400, codeBadRequest, `"queues"`},
		{"queues out of range", "PUT", "/v1/topics/T2", tokTopicsWrite, `{"write_queues":5000}`, 400, codeBadRequest, "write queues: 5000"},
		{"a perm that is no perm", "PUT", "/v1/topics/T2", tokTopicsWrite, `{"perm":9}`, 400, codeBadRequest, "perm: 9"},
		{"a topic name the rules refuse", "PUT", "/v1/topics/a%20b", tokTopicsWrite, "", 400, codeBadRequest, "topic"},
		// What a broker reserves is refused before any broker is asked: the broker answers
		// SYSTEM_ERROR, which would be a 502.
		{"a system topic", "PUT", "/v1/topics/TBW102", tokTopicsWrite, "", 400, codeBadRequest, "system topic"},
		{"a system topic by its prefix", "PUT", "/v1/topics/rmq_sys_mine", tokTopicsWrite, "", 400, codeBadRequest, "system topic"},
		{"the cluster's name", "PUT", "/v1/topics/DefaultCluster", tokTopicsWrite, "", 400, codeBadRequest, "system topic"},
		{"a broker's name", "PUT", "/v1/topics/broker-a", tokTopicsWrite, "", 400, codeBadRequest, "system topic"},
		{"the cluster's reply topic", "PUT", "/v1/topics/DefaultCluster_REPLY_TOPIC", tokTopicsWrite, "", 400, codeBadRequest, "system topic"},
		{"two JSON values", "PUT", "/v1/topics/T2", tokTopicsWrite, `{}{}`, 400, codeBadRequest, "more than one"},
		{"read scope cannot write", "PUT", "/v1/topics/T2", tokTopicsRead, "", 403, codeForbidden, "topics:write"},
		{"write scope reads", "GET", "/v1/topics", tokTopicsWrite, "", 200, "", ""},
		{"groups scope is not topics scope", "GET", "/v1/topics", tokGroupsWrite, "", 403, codeForbidden, "topics:read"},
		{"no token", "GET", "/v1/topics", "", "", 401, codeUnauthorized, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.status || r.str("code") != tt.code || !strings.Contains(r.str("error"), tt.mentions) {
				t.Errorf("%d %s, want %d %s mentioning %q", r.status, r.raw, tt.status, tt.code, tt.mentions)
			}
		})
	}
}

// The admin operations answer 503 until the gateway serves.
func TestAdminOpsBeforeStart(t *testing.T) {
	g, err := New(adminConfig("127.0.0.1:9", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []adminCall{
		{method: "GET", path: "/v1/topics", token: tokRoot},
		{method: "GET", path: "/v1/groups/g/progress", token: tokRoot},
		{method: "POST", path: "/v1/groups/g/reset-offset", token: tokRoot, body: []byte(`{"topic":"T","timestamp":"now"}`)},
	} {
		if r := serveAdmin(t, g.AdminHandler(), c); r.status != http.StatusServiceUnavailable || r.str("code") != codeUnavailable {
			t.Errorf("%s %s before Start: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
}

// Errors of the instance become answers a client can act on.
func TestAdminOpError(t *testing.T) {
	brokerErr := func(code remoting.ResponseCode, remark string) error {
		return &instance.BrokerError{Code: code, Remark: remark, Addr: "b:10911", Request: remoting.UpdateAndCreateTopic}
	}
	for _, tt := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"a system topic", fmt.Errorf("x: %w", instance.ErrSystemTopic), 400, codeBadRequest},
		{"unknown cluster", fmt.Errorf("x: %w", instance.ErrClusterNotFound), 404, codeClusterNotFound},
		{"unknown group", fmt.Errorf("x: %w", instance.ErrGroupNotFound), 404, codeGroupNotFound},
		{"unknown topic", brokerErr(remoting.TopicNotExist, "no route"), 404, codeTopicNotFound},
		{"no permission", brokerErr(remoting.NoPermission, "denied"), 403, codeForbidden},
		{"busy broker", brokerErr(remoting.SystemBusy, "[REJECTREQUEST]"), 503, codeBrokerBusy},
		{"an ACL refusal", brokerErr(remoting.SystemError, "org.apache.rocketmq.acl.common.AclException: Need admin permission for request code=17, but accessKey=RocketMQ is not"), 403, codeForbidden},
		{"an unsigned request under ACL", brokerErr(remoting.SystemError, "No accessKey is configured"), 403, codeForbidden},
		{"a broker's system error", brokerErr(remoting.SystemError, "boom"), 502, codeBrokerError},
		{"a code nobody decides on", brokerErr(remoting.ConsumerNotOnline, "gone"), 502, codeBrokerError},
		{"no NameServer reachable", fmt.Errorf("x: %w", instance.ErrNameServerUnreachable), 503, codeUnavailable},
		{"a timeout", fmt.Errorf("x: %w", instance.ErrTimeout), 504, codeTimeout},
		{"anything else", errors.New("odd"), 500, codeInternal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var re *requestError
			if !errors.As(adminOpError(tt.err), &re) || re.status != tt.status || re.code != tt.code {
				t.Errorf("got %+v, want %d %s", re, tt.status, tt.code)
			}
		})
	}
}
