//go:build !race

package netpoll

import "syscall"

// dupFD duplicates the socket descriptor s for netpoll, close-on-exec.
func dupFD(s int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := syscall.Dup(s)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	return fd, err
}
