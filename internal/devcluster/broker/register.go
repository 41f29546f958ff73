package broker

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

const (
	registerTimeout   = 6 * time.Second // registerBrokerTimeoutMills
	unregisterTimeout = 3 * time.Second // BrokerOuterAPI.unregisterBroker
)

// registerLoop is the registration task of BrokerController.start: every RegisterInterval,
// and at once (oneway) when a topic was created on the send path.
func (b *Broker) registerLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.RegisterInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.registerAll(ctx, false)
		case <-b.registerNow:
			b.registerAll(ctx, true)
		}
	}
}

// registerCreated is the registerBrokerAll(false, true, true) of a topic's creation:
// oneway, written on the creating handler before it answers, as Java's, so that a client
// told of the topic (a heartbeat that created a retry topic, a send that created its
// topic) finds it routed. Before Start and after Shutdown the registration loop does it.
func (b *Broker) registerCreated() {
	if b.state.Load() != stateRunning || b.runCtx == nil {
		b.kickRegister()
		return
	}
	b.registerAll(b.runCtx, true)
}

// kickRegister asks the registration loop for a oneway registration.
func (b *Broker) kickRegister() {
	select {
	case b.registerNow <- struct{}{}:
	default:
	}
}

// registerAll is registerBrokerAll: every topic to every NameServer.
func (b *Broker) registerAll(ctx context.Context, oneway bool) {
	b.register(ctx, b.topics.wrapper(), oneway)
}

// registerIncrement is registerIncrementBrokerData: one topic, after UPDATE_AND_CREATE_TOPIC.
func (b *Broker) registerIncrement(ctx context.Context, tc *remoting.TopicConfig, version remoting.DataVersion) {
	b.register(ctx, remoting.TopicConfigWrapper{DataVersion: version,
		Topics: map[string]remoting.TopicConfig{tc.TopicName: *tc}}, false)
}

// register is BrokerOuterAPI.registerBrokerAll: REGISTER_BROKER to every NameServer at
// once, waiting for all of them. A NameServer that cannot be reached is logged and skipped.
func (b *Broker) register(ctx context.Context, topics remoting.TopicConfigWrapper, oneway bool) {
	if len(b.cfg.NameServers) == 0 {
		return
	}
	if perm := b.permission.Load(); perm&permRW != permRW {
		// registerBrokerAll: a broker not both readable and writeable registers every
		// topic as new TopicConfig(name, read, write, brokerPermission).
		masked := make(map[string]remoting.TopicConfig, len(topics.Topics))
		for name, tc := range topics.Topics {
			masked[name] = remoting.TopicConfig{TopicName: name, ReadQueueNums: tc.ReadQueueNums,
				WriteQueueNums: tc.WriteQueueNums, Perm: perm, TopicFilterType: singleTag}
		}
		topics.Topics = masked
	}
	body := (&remoting.RegisterBrokerBody{FilterServers: []string{}, TopicConfig: topics}).Encode(false)
	req := &remoting.Command{Code: int32(remoting.RegisterBroker), Version: remoting.Version494,
		Header: &remoting.RegisterBrokerRequest{BrokerName: b.cfg.BrokerName, BrokerAddr: b.addr,
			ClusterName: b.cfg.ClusterName, HAServerAddr: b.haServerAddr(), BodyCRC32: remoting.BodyCRC32(body)},
		Body: body}
	var wg sync.WaitGroup
	for _, ns := range b.cfg.NameServers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, registerTimeout)
			defer cancel()
			if oneway {
				if err := b.outbound.InvokeOneway(ctx, ns, req); err != nil {
					b.log.Warn("broker: registering with a NameServer", "namesrv", ns, "err", err)
				}
				return
			}
			resp, err := b.outbound.Invoke(ctx, ns, req)
			switch {
			case err != nil:
				b.log.Warn("broker: registering with a NameServer", "namesrv", ns, "err", err)
			case resp.Code != int32(remoting.Success):
				b.log.Warn("broker: NameServer refused the registration", "namesrv", ns,
					"code", remoting.ResponseCode(resp.Code), "remark", resp.Remark)
			}
		}()
	}
	wg.Wait()
}

// unregisterAll is unregisterBrokerAll, at shutdown.
func (b *Broker) unregisterAll(ctx context.Context) {
	req := &remoting.Command{Code: int32(remoting.UnregisterBroker), Version: remoting.Version494,
		Header: &remoting.UnregisterBrokerRequest{BrokerName: b.cfg.BrokerName, BrokerAddr: b.addr,
			ClusterName: b.cfg.ClusterName}}
	var wg sync.WaitGroup
	for _, ns := range b.cfg.NameServers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, unregisterTimeout)
			defer cancel()
			if _, err := b.outbound.Invoke(ctx, ns, req); err != nil {
				b.log.Warn("broker: unregistering from a NameServer", "namesrv", ns, "err", err)
			}
		}()
	}
	wg.Wait()
}

// haServerAddr is getHAServerAddr: the HA port is the listen port + 1.
func (b *Broker) haServerAddr() string {
	host, port, err := net.SplitHostPort(b.addr)
	if err != nil {
		return b.addr
	}
	p, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(p+1))
}
