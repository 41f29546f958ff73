//go:build race

package netpoll

import (
	"sync/atomic"
	"syscall"
)

// In race builds cloudwego/netpoll v0.7.2 finds the connection of an epoll event by its
// descriptor number (poll_default_linux_race.go) instead of by the pointer stored in the
// event. An event already returned by epoll_wait for a connection that is then closed is
// delivered to whichever new connection reuses that number, typically a hang-up that
// closes the new connection at once (seen as EOF on its first request in churn tests).
// Ordinary builds are not affected. Handing netpoll descriptors from a rotating range
// keeps a number from being reused until thousands of connections later, far beyond the
// microseconds such an event can be stale.
const (
	raceFDFloor = 1024
	raceFDSpan  = 8192
)

var raceFDNext atomic.Uint32

func dupFD(s int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < raceFDFloor*2 {
		return plainDup(s)
	}
	span := min(uint64(raceFDSpan), lim.Cur-raceFDFloor-64)
	floor := raceFDFloor + uint64(raceFDNext.Add(1))%span
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(s), syscall.F_DUPFD_CLOEXEC, uintptr(floor))
	if errno != 0 {
		return plainDup(s)
	}
	return int(fd), nil
}

func plainDup(s int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := syscall.Dup(s)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	return fd, err
}
