package instance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// nameServers is the NameServer list with the one in use, as Java's NettyRemotingClient
// keeps them (namesrvAddrList, namesrvAddrChoosed, namesrvIndex).
type nameServers struct {
	mu     sync.Mutex
	addrs  []string // shuffled, as Java shuffles every new list
	chosen string   // the one in use while it works; "" to pick another
	index  uint32   // advanced to pick the next; starts at random, as Java's
	raw    string   // last answer of the address server
}

func (n *nameServers) init(addrs []string) {
	n.index = rand.Uint32N(999)
	n.set(addrs)
}

// set replaces the list when addrs holds other addresses (Java's
// updateNameServerAddressList); the chosen NameServer stays if it is still listed. It
// reports whether the list changed. An empty addrs changes nothing.
func (n *nameServers) set(addrs []string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(addrs) == 0 {
		return false
	}
	same := len(addrs) == len(n.addrs)
	for _, a := range addrs {
		same = same && slices.Contains(n.addrs, a)
	}
	if same {
		return false
	}
	list := slices.Clone(addrs)
	rand.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
	n.addrs = list
	if !slices.Contains(list, n.chosen) {
		n.chosen = ""
	}
	return true
}

func (n *nameServers) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.addrs)
}

// pick returns the NameServer to try: the chosen one, unless it is in tried, or else the
// next untried one in turn, which becomes the chosen one.
func (n *nameServers) pick(tried []string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.chosen != "" && !slices.Contains(tried, n.chosen) {
		return n.chosen, true
	}
	for range n.addrs {
		n.index++
		a := n.addrs[n.index%uint32(len(n.addrs))]
		if !slices.Contains(tried, a) {
			n.chosen = a
			return a, true
		}
	}
	return "", false
}

// failed forgets addr as the chosen NameServer, so that the next call picks another.
func (n *nameServers) failed(addr string) {
	n.mu.Lock()
	if n.chosen == addr {
		n.chosen = ""
	}
	n.mu.Unlock()
}

// NameServers returns the NameServer addresses in use, in the (shuffled) order they are
// tried.
func (i *Instance) NameServers() []string { return i.ns.list() }

// invokeNameServer sends req to a NameServer and returns the response and the address
// that answered. It keeps using the NameServer that last worked; when that one cannot be
// reached (the dial fails or the connection breaks), it tries the others in turn within
// the same call, as Java's getAndCreateNameserverChannel does when it creates a channel.
// A NameServer silent for a whole RequestTimeout is dropped (its connection closed, as
// Java's clientCloseSocketIfTimeout) and the next call picks another; a caller's shorter
// deadline does not drop it. NameServer requests are
// reads, so sending one again elsewhere is safe.
func (i *Instance) invokeNameServer(ctx context.Context, req *remoting.Command) (*remoting.Command, string, error) {
	if len(i.ns.list()) == 0 {
		return nil, "", fmt.Errorf("instance: %s: %w", req.RequestCode(), ErrNoNameServer)
	}
	ctx, cancel := i.withTimeout(ctx)
	defer cancel()
	var tried []string
	var lastErr error
	for {
		addr, ok := i.ns.pick(tried)
		if !ok {
			break
		}
		tried = append(tried, addr)
		sent := time.Now()
		resp, err := i.invoke(ctx, addr, req)
		if err == nil {
			return resp, addr, nil
		}
		lastErr = err
		switch {
		case errors.Is(err, ErrConnClosed):
			i.ns.failed(addr)
			i.log.Warn("instance: NameServer unreachable, trying the next", "namesrv", addr, "err", err)
			if ctx.Err() == nil {
				continue
			}
		case errors.Is(err, ErrTimeout) && time.Since(sent) >= i.cfg.RequestTimeout:
			// Silent for a whole request timeout; a caller's shorter deadline says
			// nothing of the NameServer, which stays.
			i.ns.failed(addr)
			if cl := i.client.Load(); cl != nil {
				cl.CloseConn(addr)
			}
		}
		return nil, addr, err
	}
	return nil, "", fmt.Errorf("instance: %s: %w (tried %s): %w", req.RequestCode(), ErrNameServerUnreachable,
		strings.Join(tried, ", "), lastErr)
}

// fetchNameServerAddr asks the address server for the NameServer list and uses it when it
// changed (Java's MQClientAPIImpl.fetchNameServerAddr with TopAddressing.fetchNSAddr: a GET
// answering "host:port;host:port", up to the first line break).
func (i *Instance) fetchNameServerAddr(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, defaultAddressServerTimeout)
	defer cancel()
	url := i.cfg.NameServerAddressURL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("address server %s: %w", url, err)
	}
	resp, err := i.http.Do(req)
	if err != nil {
		return fmt.Errorf("address server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("address server %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("address server %s: status %s", url, resp.Status)
	}
	raw := strings.TrimSpace(string(body))
	if k := strings.IndexAny(raw, "\r\n"); k >= 0 {
		raw = raw[:k]
	}
	var addrs []string
	for _, a := range strings.Split(raw, ";") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("address server %s answered %q: %w", url, raw, err)
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("address server %s answered no address", url)
	}
	i.ns.mu.Lock()
	same := raw == i.ns.raw
	i.ns.raw = raw
	i.ns.mu.Unlock()
	if !same && i.ns.set(addrs) {
		i.log.Info("instance: NameServer addresses changed", "namesrv", addrs, "url", url)
	}
	return nil
}
