package store

import "syscall"

// physicalMemory returns the machine's RAM, as Java's
// OperatingSystemMXBean.getTotalPhysicalMemorySize.
func physicalMemory() int64 {
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err != nil || info.Totalram == 0 {
		return fallbackPhysicalMemory
	}
	return int64(info.Totalram) * int64(info.Unit)
}
