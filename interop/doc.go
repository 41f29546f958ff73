// Package interop drives the official rocketmq-client-go v2.1.2 against mqgate's embedded
// devcluster, and against a real Apache RocketMQ when ROCKETMQ_NAMESRV is set (for example
// ROCKETMQ_NAMESRV=127.0.0.1:9876). The same assertions run against both: the devcluster
// earns trust by passing the suite the real broker passes.
//
// Besides the client's features, it checks what a client cannot be relied on to send: bad
// requests and malformed frames on raw connections get the real broker's answers
// (badinput_test.go); ACL answers come from the ACL-enabled pair at ROCKETMQ_ACL_NAMESRV
// (for example 127.0.0.1:9878), or from a devcluster with the 4.9.4 distribution's
// plain_acl.yml; a broker restarted in place keeps offsets and delayed messages
// (devcluster only).
//
// It is a module of its own so that rocketmq-client-go never enters mqgate's go.mod.
package interop
