// Package leaktest checks that a test leaves no goroutine behind.
package leaktest
