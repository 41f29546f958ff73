// Package faults injects failures into the dev cluster's request handling, for the
// reliability suites: delay or fail a chosen request code, or answer SYSTEM_BUSY to every
// request that Java's broker would refuse when overloaded. Stopping, restarting and
// dropping connections are done by package devcluster on whole servers.
package faults
