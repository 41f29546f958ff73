package broker

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// addrMatcher is a RemoteAddressStrategy: whether a client's IP (as Java prints it, no
// port) is white-listed.
type addrMatcher func(ip string) bool

// parseAddrMatcher is RemoteAddressStrategyFactory.getRemoteAddressStrategy:
//   - blank: nothing matches;
//   - "*", "*.*.*.*", "*:*:*:*:*:*:*:*": everything matches;
//   - "192.168.1.{1,2,3}", or "192.168.1.1,192.168.1.2": one of the addresses;
//   - "192.168.*.*" or "192.168.1.1-100": the first segment with * or a range decides;
//   - one address.
//
// IPv6 addresses are matched exactly, alone or in lists; IPv6 ranges are refused, which
// Java accepts.
func parseAddrMatcher(s string) (addrMatcher, error) {
	switch {
	case strings.TrimSpace(s) == "":
		return func(string) bool { return false }, nil
	case s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*":
		return func(string) bool { return true }, nil
	case strings.HasSuffix(s, "}"):
		open := strings.IndexByte(s, '{')
		sep := "."
		if strings.Contains(s, ":") {
			sep = ":"
		}
		parts := strings.Split(s, sep)
		if open < 0 || !strings.HasPrefix(parts[len(parts)-1], "{") {
			return nil, fmt.Errorf("MultipleRemoteAddressStrategy netaddress examine scope Exception netaddress %s", s)
		}
		if sep == "." && len(parts) < 4 {
			return nil, fmt.Errorf("MultipleRemoteAddressStrategy has got a/some wrong format IP(s) %s", s)
		}
		var addrs []string
		for _, last := range splitNonEmpty(s[open+1:len(s)-1], ",") {
			addrs = append(addrs, s[:open]+last)
		}
		return multipleMatcher(addrs)
	case strings.Contains(s, ","):
		return multipleMatcher(splitNonEmpty(s, ","))
	case strings.ContainsAny(s, "*-"):
		return rangeMatcher(s)
	}
	want, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("Netaddress examine Exception netaddress is %s", s)
	}
	return func(ip string) bool {
		got, err := netip.ParseAddr(ip)
		return err == nil && got == want
	}, nil
}

// multipleMatcher is MultipleRemoteAddressStrategy.
func multipleMatcher(list []string) (addrMatcher, error) {
	set := make(map[netip.Addr]bool, len(list))
	for _, a := range list {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("Netaddress examine Exception netaddress is %s", a)
		}
		set[ip] = true
	}
	return func(ip string) bool {
		got, err := netip.ParseAddr(ip)
		return err == nil && set[got]
	}, nil
}

// rangeMatcher is RangeRemoteAddressStrategy for IPv4: the first of segments 2-4 that is
// "*" or "a-b" is the range; the segments before it must match exactly, those after it
// are not looked at (as in Java).
func rangeMatcher(s string) (addrMatcher, error) {
	if strings.Contains(s, ":") {
		return nil, fmt.Errorf("IPv6 address ranges are not supported: %s", s)
	}
	parts := splitNonEmpty(s, ".")
	index, lo, hi := -1, 0, 0
	for i := 1; i <= 3 && i < len(parts); i++ {
		v := strings.TrimSpace(parts[i])
		if v == "*" {
			index, lo, hi = i, 0, 255
			break
		}
		if strings.Contains(v, "-") {
			a, b, _ := strings.Cut(v, "-")
			start, err1 := strconv.Atoi(a)
			end, err2 := strconv.Atoi(b)
			if a == "" || err1 != nil || err2 != nil || start < 0 || end > 255 || start > end {
				return nil, fmt.Errorf("RangeRemoteAddressStrategy netaddress examine scope Exception value %s", v)
			}
			index, lo, hi = i, start, end
			break
		}
	}
	if index < 0 || hi == 0 || len(parts) != 4 {
		return nil, fmt.Errorf("Netaddress examine scope Exception netaddress is %s", s)
	}
	var head strings.Builder
	for j := 0; j < index; j++ {
		n, err := strconv.Atoi(strings.TrimSpace(parts[j]))
		if err != nil || n < 0 || n > 255 {
			return nil, fmt.Errorf("Netaddress examine scope Exception netaddress is %s", s)
		}
		head.WriteString(strings.TrimSpace(parts[j]))
		head.WriteByte('.')
	}
	prefix := head.String()
	return func(ip string) bool {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() || !strings.HasPrefix(ip, prefix) {
			return false
		}
		segs := strings.Split(ip, ".")
		n, err := strconv.Atoi(segs[index])
		return err == nil && n >= lo && n <= hi
	}, nil
}

// splitNonEmpty is StringUtils.split: separators at either end or in a row make no empty
// items.
func splitNonEmpty(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
