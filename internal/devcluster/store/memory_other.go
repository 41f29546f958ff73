//go:build !linux

package store

// physicalMemory returns a typical developer machine's RAM where the OS is not asked.
func physicalMemory() int64 { return fallbackPhysicalMemory }
