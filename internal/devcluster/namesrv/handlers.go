package namesrv

import (
	"bytes"
	"context"
	"errors"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The handlers are DefaultRequestProcessor's, one per request code.

// version3011 is the ordinal of MQVersion.Version.V3_0_11: brokers from that version on
// send a RegisterBrokerBody (topics and filter servers), older ones the topic wrapper only.
const version3011 = 39

// Remarks Java writes, byte for byte.
const (
	remarkNoRoute   = "No topic route info in name server for the topic: "
	faqSuggestion   = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."
	remarkCRC       = "crc32 not match"
	remarkNoKV      = "No config item, Namespace: "
	remarkBadBody   = "org.apache.rocketmq.remoting.exception.RemotingCommandException: Failed to decode RegisterBrokerBody, org.apache.rocketmq.namesrv.processor.DefaultRequestProcessor.registerBrokerWithFilterServer(DefaultRequestProcessor.java:226)"
	remarkNullBody  = `java.lang.NullPointerException: Cannot invoke "org.apache.rocketmq.common.protocol.body.RegisterBrokerBody.getTopicConfigSerializeWrapper()" because "registerBrokerBody" is null, org.apache.rocketmq.namesrv.processor.DefaultRequestProcessor.registerBrokerWithFilterServer(DefaultRequestProcessor.java:239)`
	remarkBadHeader = "org.apache.rocketmq.remoting.exception.RemotingCommandException: "
	javaNull        = "null" // how Java prints a header field that was not sent
)

// response is RemotingCommand.createResponseCommand as a 4.9.4 NameServer sends it: its
// own language and version, whatever the client's.
func response(req *remoting.Command, code remoting.ResponseCode, remark string) *remoting.Command {
	return &remoting.Command{
		Code:      int32(code),
		Language:  remoting.LanguageJava,
		Version:   remoting.Version494,
		Opaque:    req.Opaque,
		Flag:      remoting.FlagResponse,
		Remark:    remark,
		Serialize: req.Serialize,
	}
}

func success(req *remoting.Command, body []byte) *remoting.Command {
	resp := response(req, remoting.Success, "")
	resp.Body = body
	return resp
}

// badHeader answers a request whose header Java could not use. Java 4.9.4 logs a missing
// or unparsable field and leaves it null, and the handler then fails on the null (a
// NullPointerException for a broker id); refusing with the field named is more useful and
// is what later Java versions do.
func badHeader(req *remoting.Command, err error) *remoting.Command {
	var he *remoting.HeaderError
	remark := err.Error()
	if errors.As(err, &he) {
		if he.Reason == "missing" {
			remark = remarkBadHeader + "the custom field <" + he.Field + "> is null"
		} else {
			remark = remarkBadHeader + "the custom field <" + he.Field + ">: " + he.Reason
		}
	}
	return response(req, remoting.SystemError, remark)
}

// extOrNull returns a string header field, or Java's rendering of the null it would be.
func extOrNull(ext remoting.ExtFields, key string) string {
	if v, ok := ext.Lookup(key); ok {
		return v
	}
	return javaNull
}

// registerBroker is registerBrokerWithFilterServer, or registerBroker for brokers older
// than 3.0.11.
func (s *Server) registerBroker(_ context.Context, c *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.RegisterBrokerRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return badHeader(req, err)
	}
	if h.BodyCRC32 != 0 && remoting.BodyCRC32(req.Body) != h.BodyCRC32 {
		s.log.Warn("namesrv: register broker request, crc32 not match", "broker", h.BrokerAddr)
		return response(req, remoting.SystemError, remarkCRC)
	}
	r := registration{cluster: h.ClusterName, addr: h.BrokerAddr, name: h.BrokerName,
		haServerAddr: h.HAServerAddr, id: h.BrokerID, conn: c, now: s.cfg.Clock.Now()}
	var body remoting.RegisterBrokerBody
	switch {
	case len(req.Body) == 0:
		// No body: an empty topic table with data version 0/0; a new RegisterBrokerBody
		// has an empty filter server list.
		body.FilterServers = []string{}
	case req.Version >= version3011 && !h.Compressed && string(bytes.TrimSpace(req.Body)) == "null":
		// fastjson decodes a null RegisterBrokerBody, which Java dereferences.
		return response(req, remoting.SystemError, remarkNullBody)
	case req.Version >= version3011:
		if err := body.Decode(req.Body, h.Compressed); err != nil {
			s.log.Warn("namesrv: bad register broker body", "broker", h.BrokerAddr, "err", err)
			return response(req, remoting.SystemError, remarkBadBody)
		}
		if body.FilterServers == nil {
			body.FilterServers = []string{}
		}
	default:
		// The body is a TopicConfigSerializeWrapper; read it as the wrapper field of a
		// RegisterBrokerBody, which leaves the filter server list nil (untouched).
		wrapped := append(append([]byte(`{"topicConfigSerializeWrapper":`), req.Body...), '}')
		if err := body.Decode(wrapped, false); err != nil {
			return response(req, remoting.SystemError, "com.alibaba.fastjson.JSONException: "+err.Error())
		}
		body.FilterServers = nil
	}
	r.topics = &body.TopicConfig
	r.filterServers = body.FilterServers
	ha, master := s.routes.register(r)

	resp := response(req, remoting.Success, "")
	// The response header is attached even when both fields are null, so the JSON header
	// carries "extFields":{} (recording 247). The body is the ORDER_TOPIC_CONFIG KV list,
	// null until that namespace exists.
	resp.Header = &remoting.RegisterBrokerResponse{HAServerAddr: ha, MasterAddr: master}
	resp.Body = s.kv.list(orderTopicConfig)
	return resp
}

func (s *Server) unregisterBroker(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.UnregisterBrokerRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		return badHeader(req, err)
	}
	s.routes.unregister(h.ClusterName, h.BrokerAddr, h.BrokerName, h.BrokerID)
	return success(req, nil)
}

// routeInfo is getRouteInfoByTopic: standard JSON for 4.9.4 clients and those asking for
// it, the legacy fastjson form (bare broker ids) for the others.
func (s *Server) routeInfo(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var h remoting.RouteInfoRequest
	if err := h.DecodeFields(req.Ext); err != nil {
		// Only a missing topic fails; Java looks up the null topic and finds nothing.
		return response(req, remoting.TopicNotExist, remarkNoRoute+javaNull+faqSuggestion)
	}
	route := s.routes.route(h.Topic)
	if route == nil {
		return response(req, remoting.TopicNotExist, remarkNoRoute+h.Topic+faqSuggestion)
	}
	if h.StandardJSON(req.Version) {
		return success(req, route.EncodeStandard())
	}
	return success(req, route.Encode())
}

func (s *Server) clusterInfo(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	return success(req, s.routes.clusterInfo().Encode())
}

func (s *Server) allTopics(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	return success(req, encodeTopicList(s.routes.allTopics()))
}

// deleteTopic is deleteTopicInNamesrv (DeleteTopicFromNamesrvRequestHeader: topic,
// clusterName). A missing topic deletes nothing, as Java's remove(null) does.
func (s *Server) deleteTopic(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	if topic, ok := req.Ext.Lookup("topic"); ok {
		s.routes.deleteTopic(topic, req.Ext.Get("clusterName"))
	}
	return success(req, nil)
}

// topicsByCluster is getTopicsByCluster (GetTopicsByClusterRequestHeader: cluster).
func (s *Server) topicsByCluster(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var topics []string
	if cluster, ok := req.Ext.Lookup("cluster"); ok {
		topics = s.routes.topicsOfCluster(cluster)
	}
	return success(req, encodeTopicList(topics))
}
