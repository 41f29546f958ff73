// Package recorded loads the frames recorded from Apache RocketMQ 4.9.4 in
// ../shared/testdata/rocketmq-4.9.4 (beside the repository), for tests and fuzz seeds.
// The recordings are read in place and never copied.
package recorded
