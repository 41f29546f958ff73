#!/usr/bin/env bash
# Regenerates ../java-4.9.4.jsonl: the answers of the real Java 4.9.4 allocation
# strategies (compiled from an apache/rocketmq checkout, with stubs for logging and
# commons) for the pseudo-random cases Gen.java draws.
# Usage: plugins/allocate/testdata/java/gen.sh [path to an apache/rocketmq git repository]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${1:-${ROCKETMQ_REPO:?give the path of an apache/rocketmq git repository}}
tag=rocketmq-all-4.9.4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
extract() { mkdir -p "$work/src/$(dirname "$1")"; git -C "$repo" show "$tag:$2/src/main/java/$1" >"$work/src/$1"; }
for f in AllocateMessageQueueAveragely AllocateMessageQueueAveragelyByCircle \
  AllocateMessageQueueConsistentHash AllocateMessageQueueByConfig \
  AllocateMessageQueueByMachineRoom AbstractAllocateMessageQueueStrategy; do
  extract "org/apache/rocketmq/client/consumer/rebalance/$f.java" client
done
extract org/apache/rocketmq/client/consumer/AllocateMessageQueueStrategy.java client
extract org/apache/rocketmq/common/message/MessageQueue.java common
for f in ConsistentHashRouter HashFunction Node VirtualNode; do
  extract "org/apache/rocketmq/common/consistenthash/$f.java" common
done
cp -r "$here/stubs/." "$work/src/"
cp "$here/Gen.java" "$work/src/"
mkdir "$work/classes"
javac -encoding UTF-8 -nowarn -d "$work/classes" $(find "$work/src" -name '*.java')
java -Dfile.encoding=UTF-8 -cp "$work/classes" Gen >"$here/../java-4.9.4.jsonl"
wc -l "$here/../java-4.9.4.jsonl"
