// Package clock abstracts time for the periodic tasks of the client instance, so that
// tests of 30-second timers run in microseconds: Real is the system clock, Fake moves
// only when a test advances it.
package clock
