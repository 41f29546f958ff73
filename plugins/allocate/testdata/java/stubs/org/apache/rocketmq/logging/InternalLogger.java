package org.apache.rocketmq.logging;

// Stub: the strategies only log.
public interface InternalLogger {
    void info(String format, Object... args);
}
