package namesrv

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/mqgate/mqgate/internal/devcluster/javaconf"
	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// The admin requests of DefaultRequestProcessor that mqadmin uses: the NameServer's
// configuration (getNamesrvConfig, updateNamesrvConfig), a broker's write permission
// (wipeWritePerm, addWritePerm), the system and unit topic lists, and the brokers'
// QUERY_DATA_VERSION.

// namesrvConfigKeys are the fields of Java 4.9.4's NamesrvConfig and NettyServerConfig in
// the order of the reference NameServer's GET_NAMESRV_CONFIG answer (its Configuration's
// Properties, on Java 17), with its defaults; the host-specific ones, empty here, are
// always replaced (ownConfigValue).
var namesrvConfigKeys = []javaconf.Key{
	{Name: "serverSocketBacklog", Kind: javaconf.Int, Value: "1024"},
	{Name: "writeBufferHighWaterMark", Kind: javaconf.Int, Value: "0"},
	{Name: "serverWorkerThreads", Kind: javaconf.Int, Value: "8"},
	{Name: "serverSelectorThreads", Kind: javaconf.Int, Value: "3"},
	{Name: "serverChannelMaxIdleTimeSeconds", Kind: javaconf.Int, Value: "120"},
	{Name: "writeBufferLowWaterMark", Kind: javaconf.Int, Value: "0"},
	{Name: "serverSocketRcvBufSize", Kind: javaconf.Int, Value: "0"},
	{Name: "serverAsyncSemaphoreValue", Kind: javaconf.Int, Value: "64"},
	{Name: "kvConfigPath", Kind: javaconf.String},
	{Name: "configStorePath", Kind: javaconf.String},
	{Name: "clusterTest", Kind: javaconf.Bool, Value: "false"},
	{Name: "orderMessageEnable", Kind: javaconf.Bool, Value: "false"},
	{Name: "serverSocketSndBufSize", Kind: javaconf.Int, Value: "0"},
	{Name: "serverOnewaySemaphoreValue", Kind: javaconf.Int, Value: "256"},
	{Name: "serverCallbackExecutorThreads", Kind: javaconf.Int, Value: "0"},
	{Name: "listenPort", Kind: javaconf.Int},
	{Name: "rocketmqHome", Kind: javaconf.String},
	{Name: "productEnvName", Kind: javaconf.String, Value: "center"},
	{Name: "useEpollNativeSelector", Kind: javaconf.Bool, Value: "false"},
	{Name: "serverPooledByteBufAllocatorEnable", Kind: javaconf.Bool, Value: "true"},
}

// settings is the NameServer's Configuration: the values updated since the start. None
// changes what this NameServer does (Java reads them at start too), and none is
// persisted where Java writes configStorePath.
type settings struct {
	mu      sync.Mutex
	updated map[string]string
}

// ownConfigValue is the value of a key this NameServer has of its own; omit is a null
// Java leaves out.
func (s *Server) ownConfigValue(key string) (value string, ok, omit bool) {
	home, err := os.UserHomeDir() // NamesrvConfig's paths are under user.home
	if err != nil {
		home = os.TempDir()
	}
	switch key {
	case "listenPort":
		_, port, _ := net.SplitHostPort(s.Addr())
		return port, true, false
	case "rocketmqHome": // System.getenv("ROCKETMQ_HOME"), null when unset
		v := os.Getenv("ROCKETMQ_HOME")
		return v, true, v == ""
	case "kvConfigPath":
		return filepath.Join(home, "namesrv", "kvConfig.json"), true, false
	case "configStorePath":
		return filepath.Join(home, "namesrv", "namesrv.properties"), true, false
	}
	return "", false, false
}

// getConfig is getConfig: Configuration.getAllConfigsFormatString.
func (s *Server) getConfig(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	s.settings.mu.Lock()
	defer s.settings.mu.Unlock()
	return success(req, javaconf.Format(namesrvConfigKeys, s.ownConfigValue, func(name string) (string, bool) {
		v, ok := s.settings.updated[name]
		return v, ok
	}))
}

// updateConfig is updateConfig: Configuration.update, the known keys parsed as their
// fields (a value that does not parse and an unknown key change nothing).
func (s *Server) updateConfig(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	if req.Body == nil {
		return success(req, nil)
	}
	props, changed := javaconf.Update(namesrvConfigKeys, string(req.Body))
	s.settings.mu.Lock()
	defer s.settings.mu.Unlock()
	if s.settings.updated == nil {
		s.settings.updated = map[string]string{}
	}
	maps.Copy(s.settings.updated, changed)
	s.log.Info("namesrv: config updated", "properties", props)
	return success(req, nil)
}

// wipeWritePerm is wipeWritePermOfBroker (WipeWritePermOfBrokerRequestHeader: brokerName),
// answered with the number of topics changed; a missing name matches no broker.
func (s *Server) wipeWritePerm(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	n := 0
	if name, ok := req.Ext.Lookup("brokerName"); ok {
		n = s.routes.operateWritePerm(name, false)
	}
	resp := success(req, nil)
	resp.Header = countHeader{"wipeTopicCount", n}
	return resp
}

// addWritePerm is addWritePermOfBroker (AddWritePermOfBrokerRequestHeader: brokerName).
func (s *Server) addWritePerm(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	n := 0
	if name, ok := req.Ext.Lookup("brokerName"); ok {
		n = s.routes.operateWritePerm(name, true)
	}
	resp := success(req, nil)
	resp.Header = countHeader{"addTopicCount", n}
	return resp
}

// countHeader is WipeWritePermOfBrokerResponseHeader or AddWritePermOfBrokerResponseHeader.
type countHeader struct {
	key string
	n   int
}

func (h countHeader) EncodeFields(w *remoting.FieldWriter) { w.Int(h.key, int64(h.n)) }

// systemTopics is getSystemTopicListFromNs: every cluster's name and its broker names,
// with the address of a broker.
func (s *Server) systemTopics(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	topics, addr := s.routes.systemTopics()
	body := []byte("{")
	if addr != "" { // fastjson leaves out the null brokerAddr
		body = appendFastjsonString(append(body, `"brokerAddr":`...), addr)
		body = append(body, ',')
	}
	body = append(body, encodeTopicList(topics)[1:]...)
	return success(req, body)
}

// TopicSysFlag bits.
const (
	flagUnit    = 1 << 0
	flagUnitSub = 1 << 1
)

// unitTopics answers GET_UNIT_TOPIC_LIST, GET_HAS_UNIT_SUB_TOPIC_LIST and
// GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST: the topics whose first queue data's sysflag passes.
func (s *Server) unitTopics(pick func(sysFlag int32) bool) netpoll.Handler {
	return func(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
		return success(req, encodeTopicList(s.routes.topicsWhere(pick)))
	}
}

// queryDataVersion is queryBrokerTopicConfig (QUERY_DATA_VERSION), a broker asking whether
// its topics need registering: changed unless its data version is the one the NameServer
// has, in which case it counts as a registration for liveness; the body is the
// NameServer's version when the broker is alive.
func (s *Server) queryDataVersion(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	var v *remoting.DataVersion
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &v); err != nil {
			v = nil
		}
	}
	addr := extOrNull(req.Ext, "brokerAddr")
	known, changed := s.routes.queryDataVersion(addr, v, s.cfg.Clock.Now())
	resp := success(req, nil)
	if known != nil {
		resp.Body = []byte(`{"counter":` + strconv.FormatInt(known.Counter, 10) +
			`,"timestamp":` + strconv.FormatInt(known.Timestamp, 10) + `}`)
	}
	resp.Header = boolHeader{"changed", changed}
	return resp
}

// boolHeader is QueryDataVersionResponseHeader.
type boolHeader struct {
	key string
	v   bool
}

func (h boolHeader) EncodeFields(w *remoting.FieldWriter) { w.Bool(h.key, h.v) }
