package namesrv

import (
	"context"
	"sync"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// orderTopicConfig is NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG, the namespace whose list
// answers a broker's registration.
const orderTopicConfig = "ORDER_TOPIC_CONFIG"

// kvStore is Java's KVConfigManager: values by namespace and key (PUT_KV_CONFIG and the
// others, mqadmin updateKvConfig), kept in memory where Java persists kvConfig.json. A
// namespace stays once created, emptied or not, as Java's table does.
type kvStore struct {
	mu     sync.Mutex
	seq    uint64
	tables map[string]map[string]kvEntry
}

// kvEntry is a value (null when put without one) with its insertion sequence number, for
// the HashMap order of a namespace's list.
type kvEntry struct {
	value string
	null  bool
	seq   uint64
}

func (s *kvStore) put(namespace, key, value string, null bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables == nil {
		s.tables = map[string]map[string]kvEntry{}
	}
	t := s.tables[namespace]
	if t == nil {
		t = map[string]kvEntry{}
		s.tables[namespace] = t
	}
	e, ok := t[key]
	if !ok { // HashMap.put keeps a present key's place
		s.seq++
		e.seq = s.seq
	}
	e.value, e.null = value, null
	t[key] = e
}

func (s *kvStore) get(namespace, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.tables[namespace][key]
	return e.value, ok && !e.null
}

func (s *kvStore) remove(namespace, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tables[namespace], key)
}

// list is getKVListByNamespace: a KVTable, {"table":{...}} in HashMap order without the
// null values, or nil when the namespace does not exist.
func (s *kvStore) list(namespace string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[namespace]
	if !ok {
		return nil
	}
	ks := make([]seqKey, 0, len(t))
	for k, e := range t {
		ks = append(ks, seqKey{k, e.seq})
	}
	b := []byte(`{"table":{`)
	first := true
	for _, k := range javaOrder(bySeq(ks), defaultTable) {
		if t[k].null {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendFastjsonString(b, k)
		b = append(b, ':')
		b = appendFastjsonString(b, t[k].value)
	}
	return append(b, "}}"...)
}

// putKV is putKVConfig.
func (s *Server) putKV(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	namespace, okNS := req.Ext.Lookup("namespace")
	key, okKey := req.Ext.Lookup("key")
	if !okNS || !okKey {
		return response(req, remoting.SystemError, "namespace or key is null")
	}
	value, ok := req.Ext.Lookup("value")
	s.kv.put(namespace, key, value, !ok)
	return success(req, nil)
}

// kvConfig is getKVConfig. Clients ask for ORDER_TOPIC_CONFIG entries.
func (s *Server) kvConfig(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	ns, key := extOrNull(req.Ext, "namespace"), extOrNull(req.Ext, "key")
	if _, okNS := req.Ext.Lookup("namespace"); okNS {
		if _, okKey := req.Ext.Lookup("key"); okKey {
			if v, ok := s.kv.get(ns, key); ok {
				resp := success(req, nil)
				resp.Header = kvValue(v)
				return resp
			}
		}
	}
	resp := response(req, remoting.QueryNotFound, remarkNoKV+ns+" Key: "+key)
	resp.Header = remoting.EmptyHeader{} // GetKVConfigResponseHeader, its value null
	return resp
}

// deleteKV is deleteKVConfig.
func (s *Server) deleteKV(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	ns, okNS := req.Ext.Lookup("namespace")
	key, okKey := req.Ext.Lookup("key")
	if okNS && okKey {
		s.kv.remove(ns, key)
	}
	return success(req, nil)
}

// kvList is getKVListByNamespace.
func (s *Server) kvList(_ context.Context, _ *netpoll.Conn, req *remoting.Command) *remoting.Command {
	ns, ok := req.Ext.Lookup("namespace")
	if ok {
		if body := s.kv.list(ns); body != nil {
			return success(req, body)
		}
	}
	return response(req, remoting.QueryNotFound, remarkNoKV+extOrNull(req.Ext, "namespace"))
}

// kvValue is GetKVConfigResponseHeader.
type kvValue string

func (v kvValue) EncodeFields(w *remoting.FieldWriter) { w.String("value", string(v)) }
