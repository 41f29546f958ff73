package org.apache.rocketmq.client.log;

import org.apache.rocketmq.logging.InternalLogger;

// Stub: a logger that discards.
public class ClientLogger {
    public static InternalLogger getLog() {
        return (format, args) -> { };
    }
}
