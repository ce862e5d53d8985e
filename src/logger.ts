/** The process logger: JSON lines on stdout (pino), with secrets redacted by path. */
import { type Logger, pino } from "pino";

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "agentgate" },
    redact: {
      paths: ["req.headers.authorization", "*.token", "*.api_key", "*.apiKey"],
      censor: "[redacted]",
    },
  });
}
