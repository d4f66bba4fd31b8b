/** Structured fields that go with a log line. Never holds credentials. */
export type LogFields = Record<string, unknown>;

/**
 * What the package logs through. Pass your own (pino and winston fit as they
 * are), or a {@link ConsoleStyleLogger}; the default says nothing.
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** `console`, NestJS's `Logger`, and anything else with `log`, `warn` and `error`: accepted wherever a logger is. */
export interface ConsoleStyleLogger {
  log(message: string, ...rest: unknown[]): void;
  warn(message: string, ...rest: unknown[]): void;
  error(message: string, ...rest: unknown[]): void;
  debug?(message: string, ...rest: unknown[]): void;
  verbose?(message: string, ...rest: unknown[]): void;
}

const noop = (): void => undefined;

/** The default logger: library code stays silent unless the application asks. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
