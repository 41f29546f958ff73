package producer

import (
	"strings"

	"github.com/mqgate/mqgate/message"
)

// namespaceSeparator joins a namespace and a topic or group: "namespace%name".
const namespaceSeparator = "%"

// wrapNamespace returns res in namespace ns, as Java's NamespaceUtil.wrapNamespace: system
// topics and groups, and names already in ns, are left as they are; a retry or DLQ prefix
// stays in front ("%RETRY%ns%group").
func wrapNamespace(ns, res string) string {
	if ns == "" || res == "" || isSystemResource(res) {
		return res
	}
	prefix, bare := splitRetryDLQ(res)
	if strings.HasPrefix(bare, ns+namespaceSeparator) {
		return res
	}
	return prefix + ns + namespaceSeparator + bare
}

// unwrapNamespace removes namespace ns from res, as Java's NamespaceUtil.withoutNamespace
// with a namespace: names not in ns are left as they are.
func unwrapNamespace(ns, res string) string {
	if ns == "" || res == "" || isSystemResource(res) {
		return res
	}
	prefix, bare := splitRetryDLQ(res)
	if rest, ok := strings.CutPrefix(bare, ns+namespaceSeparator); ok {
		return prefix + rest
	}
	return res
}

func splitRetryDLQ(res string) (prefix, bare string) {
	switch {
	case strings.HasPrefix(res, message.RetryTopicPrefix):
		return message.RetryTopicPrefix, res[len(message.RetryTopicPrefix):]
	case strings.HasPrefix(res, message.DLQTopicPrefix):
		return message.DLQTopicPrefix, res[len(message.DLQTopicPrefix):]
	}
	return "", res
}

// isSystemResource is Java's NamespaceUtil.isSystemResource: a system topic or a system
// consumer group, which no namespace applies to.
func isSystemResource(res string) bool {
	return message.IsSystemTopic(res) || strings.HasPrefix(res, message.SystemConsumerGroupPrefix)
}
