/** Structured fields that go with a log line. Never holds credentials. */
export type LogFields = Record<string, unknown>;

/**
 * What the package logs through. Pass your own (pino, winston and NestJS's
 * Logger fit with a thin adapter); the default says nothing.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const noop = (): void => undefined;

/** The default logger: library code stays silent unless the application asks. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
