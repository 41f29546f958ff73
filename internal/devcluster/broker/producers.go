package broker

import (
	"slices"
	"sync"
	"time"

	"github.com/mqgate/mqgate/netpoll"
	"github.com/mqgate/mqgate/remoting"
)

// producerManager is Java's ProducerManager: the connections of each producer group, which
// transaction checks are sent to and GET_PRODUCER_CONNECTION_LIST lists.
type producerManager struct {
	mu     sync.Mutex
	groups map[string][]*clientChannel
}

func newProducerManager() *producerManager {
	return &producerManager{groups: make(map[string][]*clientChannel)}
}

// register is registerProducer: a new channel joins, a known one is refreshed.
func (m *producerManager) register(group string, ch clientChannel) {
	m.mu.Lock()
	defer m.mu.Unlock()
	chans := m.groups[group]
	if i := slices.IndexFunc(chans, func(x *clientChannel) bool { return x.conn == ch.conn }); i >= 0 {
		chans[i].lastUpdate = ch.lastUpdate
		return
	}
	m.groups[group] = append(chans, &ch)
}

// unregister is unregisterProducer.
func (m *producerManager) unregister(group string, c *netpoll.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	chans := slices.DeleteFunc(m.groups[group], func(x *clientChannel) bool { return x.conn == c })
	if len(chans) == 0 {
		delete(m.groups, group)
	} else {
		m.groups[group] = chans
	}
}

// channelClosed is doChannelCloseEvent. Java keeps a group whose last channel closed, with
// no channel; it is dropped here, which nobody can tell apart.
func (m *producerManager) channelClosed(c *netpoll.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for group := range m.groups {
		m.removeLocked(group, func(x *clientChannel) bool { return x.conn == c })
	}
}

// scanExpired is scanNotActiveChannel; the expired connections are returned, to be closed.
func (m *producerManager) scanExpired(now time.Time, expiry time.Duration) []*netpoll.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*netpoll.Conn
	for group := range m.groups {
		m.removeLocked(group, func(x *clientChannel) bool {
			if now.Sub(x.lastUpdate) > expiry {
				out = append(out, x.conn)
				return true
			}
			return false
		})
	}
	return out
}

func (m *producerManager) removeLocked(group string, del func(*clientChannel) bool) {
	chans := slices.DeleteFunc(m.groups[group], del)
	if len(chans) == 0 {
		delete(m.groups, group)
	} else {
		m.groups[group] = chans
	}
}

// conns returns the connections of a group, for transaction checks
// (getAvailableChannel picks among them).
func (m *producerManager) conns(group string) []*netpoll.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*netpoll.Conn
	for _, ch := range m.groups[group] {
		out = append(out, ch.conn)
	}
	return out
}

// connections returns the group's Connection list; ok is false for an unknown group.
func (m *producerManager) connections(group string) (out []remoting.Connection, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	chans, ok := m.groups[group]
	for _, ch := range chans {
		out = append(out, remoting.Connection{ClientAddr: remoteAddr(ch.conn), ClientID: ch.clientID,
			Language: ch.language.String(), Version: ch.version})
	}
	return out, ok
}

// findChannel is findChannel(clientId): the connection a client registered a producer on
// most recently.
func (m *producerManager) findChannel(clientID string) (*netpoll.Conn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var found *clientChannel
	for _, chans := range m.groups {
		for _, ch := range chans {
			if ch.clientID == clientID && (found == nil || ch.lastUpdate.After(found.lastUpdate)) {
				found = ch
			}
		}
	}
	if found == nil {
		return nil, false
	}
	return found.conn, true
}
