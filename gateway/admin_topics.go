package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mqgate/mqgate/instance"
	"github.com/mqgate/mqgate/remoting"
)

// Topic and group administration on the admin API, what a platform team would otherwise
// run mqadmin for: create or update a topic on a cluster, list topics (admin_topics.go),
// a group's consume progress and a reset of its offsets to a timestamp (admin_groups.go).
// Each is a call through the gateway's client instance, answered 503 while the gateway
// does not serve.

// Error codes of the topic and group administration.
const (
	codeClusterNotFound = "cluster_not_found" // 404
	codeGroupNotFound   = "group_not_found"   // 404
	codeBrokerError     = "broker_error"      // 502: a broker or NameServer refused
)

const (
	// adminOpTimeout bounds an operation made of several calls (a topic on every master,
	// a reset queue by queue); each call has the client's request timeout.
	adminOpTimeout = 30 * time.Second
	// maxAdminBody bounds the JSON body of a topic or reset request.
	maxAdminBody = 64 << 10
)

// routeAdminOps registers the topic and group routes on the admin API.
func (g *Gateway) routeAdminOps() {
	if g.admin == nil {
		return
	}
	a := g.admin
	a.handle("GET /v1/topics", ScopeTopicsRead, g.listTopics)
	a.handle("PUT /v1/topics/{topic}", ScopeTopicsWrite, g.putTopic)
	a.handle("GET /v1/clusters/{cluster}/topics", ScopeTopicsRead, g.listClusterTopics)
	a.handle("GET /v1/groups/{group}/progress", ScopeGroupsRead, g.groupProgress)
	a.handle("POST /v1/groups/{group}/reset-offset", ScopeGroupsWrite, g.resetGroupOffset)
}

// adminInstance returns the client instance and a context bounding the operation, or
// answers 503.
func (g *Gateway) adminInstance(w http.ResponseWriter, r *http.Request) (*instance.Instance, context.Context, context.CancelFunc) {
	inst, why := g.api.instance()
	if inst == nil {
		g.admin.fail(w, r, &requestError{status: http.StatusServiceUnavailable, code: codeUnavailable, msg: "the gateway is not serving: " + why})
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminOpTimeout)
	return inst, ctx, cancel
}

// adminOpError maps an instance error to the answer: a topic the brokers reserve is 400,
// unknown clusters, groups and topics are 404, a broker's refusal the status its meaning
// has for the API (403 for NO_PERMISSION and ACL refusals, 503 busy or unreachable) or
// 502, transport timeouts 504.
func adminOpError(err error) error {
	var re *requestError
	if errors.As(err, &re) {
		return err
	}
	status, code := http.StatusInternalServerError, codeInternal
	switch {
	case errors.Is(err, instance.ErrSystemTopic):
		status, code = http.StatusBadRequest, codeBadRequest
	case errors.Is(err, instance.ErrClusterNotFound):
		status, code = http.StatusNotFound, codeClusterNotFound
	case errors.Is(err, instance.ErrGroupNotFound):
		status, code = http.StatusNotFound, codeGroupNotFound
	case errors.Is(err, instance.ErrTopicNotExist):
		status, code = http.StatusNotFound, codeTopicNotFound
	case isACLRefusal(err):
		status, code = http.StatusForbidden, codeForbidden
	default:
		status, code = classify(err)
		var be *instance.BrokerError
		if status == http.StatusInternalServerError && errors.As(err, &be) {
			status, code = http.StatusBadGateway, codeBrokerError
		}
	}
	return &requestError{status: status, code: code, msg: err.Error()}
}

// isACLRefusal reports a broker's ACL refusal: a 4.9.4 broker answers SYSTEM_ERROR with
// the AclException ("Need admin permission for request code=17", a bad signature) or
// "No accessKey" as the remark.
func isACLRefusal(err error) bool {
	var be *instance.BrokerError
	return errors.As(err, &be) && be.Code == remoting.SystemError &&
		(strings.Contains(be.Remark, "AclException") || strings.Contains(be.Remark, "No accessKey"))
}

// decodeAdminBody reads a JSON body into v, strictly; an empty body leaves v as it is.
func decodeAdminBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	if dec.More() {
		return badRequest("request body: more than one JSON value")
	}
	return nil
}

// topicRequest is the body of PUT /v1/topics/{topic}; left out, a field takes mqadmin
// updateTopic's default (8 queues, perm 6, the only cluster, not ordered).
type topicRequest struct {
	Cluster     string `json:"cluster"`
	ReadQueues  int32  `json:"read_queues"`
	WriteQueues int32  `json:"write_queues"`
	Perm        int32  `json:"perm"`
	Order       bool   `json:"order"`
}

// topicAnswer is the answer to PUT /v1/topics/{topic}.
type topicAnswer struct {
	Topic       string          `json:"topic"`
	Cluster     string          `json:"cluster"`
	ReadQueues  int32           `json:"read_queues"`
	WriteQueues int32           `json:"write_queues"`
	Perm        int32           `json:"perm"`
	Order       bool            `json:"order"`
	Brokers     []brokerOutcome `json:"brokers"`
	Error       string          `json:"error,omitempty"`
	Code        string          `json:"code,omitempty"`
}

// brokerOutcome is one master's answer to a topic update.
type brokerOutcome struct {
	Broker string `json:"broker"`
	Addr   string `json:"addr"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

// putTopic creates or updates a topic on every master of a cluster. When some masters
// refuse, the answer has the status of the first refusal and says, broker by broker,
// which took it.
func (g *Gateway) putTopic(w http.ResponseWriter, r *http.Request) {
	var req topicRequest
	if err := decodeAdminBody(w, r, &req); err != nil {
		g.admin.fail(w, r, err)
		return
	}
	tc := instance.TopicConfig{Topic: r.PathValue("topic"), ReadQueueNums: req.ReadQueues, WriteQueueNums: req.WriteQueues,
		Perm: req.Perm, Order: req.Order}
	if err := tc.Validate(); err != nil {
		g.admin.fail(w, r, badRequest("%v", err))
		return
	}
	inst, ctx, cancel := g.adminInstance(w, r)
	if inst == nil {
		return
	}
	defer cancel()
	ups, err := inst.CreateOrUpdateTopic(ctx, req.Cluster, tc)
	if len(ups) == 0 {
		g.admin.fail(w, r, adminOpError(err))
		return
	}
	ans := topicAnswer{Topic: tc.Topic, Cluster: ups[0].Cluster, ReadQueues: tc.ReadQueueNums, WriteQueues: tc.WriteQueueNums,
		Perm: tc.Perm, Order: tc.Order}
	status := http.StatusOK
	for _, u := range ups {
		o := brokerOutcome{Broker: u.BrokerName, Addr: u.Addr, OK: u.Err == nil}
		if u.Err != nil {
			o.Error = u.Err.Error()
			if status == http.StatusOK {
				var re *requestError
				errors.As(adminOpError(u.Err), &re)
				status, ans.Code = re.status, re.code
			}
		}
		ans.Brokers = append(ans.Brokers, o)
	}
	if err != nil {
		ans.Error = err.Error()
		g.log.Warn("gateway: admin: topic update refused", "topic", tc.Topic, "cluster", ans.Cluster, "status", status, "err", err)
	} else {
		g.log.Info("gateway: admin: topic created or updated", "topic", tc.Topic, "cluster", ans.Cluster,
			"read_queues", tc.ReadQueueNums, "write_queues", tc.WriteQueueNums, "perm", tc.Perm, "brokers", len(ups))
	}
	writeJSON(w, status, ans)
}

// topicList is the answer of the topic lists.
type topicList struct {
	Cluster string   `json:"cluster,omitempty"`
	Topics  []string `json:"topics"`
}

// listTopics answers every topic the NameServers know, sorted.
func (g *Gateway) listTopics(w http.ResponseWriter, r *http.Request) {
	inst, ctx, cancel := g.adminInstance(w, r)
	if inst == nil {
		return
	}
	defer cancel()
	topics, err := inst.AllTopics(ctx)
	if err != nil {
		g.admin.fail(w, r, adminOpError(err))
		return
	}
	writeJSON(w, http.StatusOK, topicList{Topics: nonNil(topics)})
}

// listClusterTopics answers the topics of a cluster's brokers, sorted; 404 for a cluster
// the NameServers do not know.
func (g *Gateway) listClusterTopics(w http.ResponseWriter, r *http.Request) {
	cluster := r.PathValue("cluster")
	inst, ctx, cancel := g.adminInstance(w, r)
	if inst == nil {
		return
	}
	defer cancel()
	topics, err := inst.TopicsOfCluster(ctx, cluster)
	if err != nil {
		g.admin.fail(w, r, adminOpError(err))
		return
	}
	writeJSON(w, http.StatusOK, topicList{Cluster: cluster, Topics: nonNil(topics)})
}

// nonNil makes a nil list an empty JSON array.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
