import { InvalidOptionError } from './errors';
import { Logger, silentLogger } from './logger';

/** Options of {@link SafeSynchronizer}. Every field is optional; defaults are below. */
export interface SafeSynchronizerOptions {
  /**
   * How long to wait for the schema-sync advisory lock before failing with
   * `LockTimeoutError`. `0` waits without limit.
   * @defaultValue 60000
   */
  lockTimeoutMs?: number;
  /**
   * The two-int advisory lock key. By default the first half is this package's
   * namespace and the second is `hashtext(current_database() || ':' || schemas)`,
   * so processes syncing the same schemas of the same database share one lock.
   * Set it when several applications must serialize on one key.
   * @defaultValue derived, see above
   */
  lockKey?: readonly [number, number];
  /**
   * How many times the sync is attempted when a process that does not take our
   * lock created an object first.
   * @defaultValue 5
   */
  maxAttempts?: number;
  /**
   * The first retry waits a random time up to this; each later retry doubles it.
   * @defaultValue 50
   */
  retryDelayMs?: number;
  /** Where diagnostics go. @defaultValue a logger that says nothing */
  logger?: Logger;
}

export interface ResolvedSafeSynchronizerOptions {
  lockTimeoutMs: number;
  lockKey: readonly [number, number] | undefined;
  maxAttempts: number;
  retryDelayMs: number;
  logger: Logger;
}

export const SAFE_SYNCHRONIZER_DEFAULTS = Object.freeze({
  lockTimeoutMs: 60_000,
  maxAttempts: 5,
  retryDelayMs: 50,
});

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function isInt32(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return String(value);
}

export function requireNonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError(
      `Option ${name} is ${describeValue(value)}; it must be a whole number of at least 0. ` +
        `Pass a non-negative integer, or leave it out for the default (${fallback}).`,
    );
  }
  return value;
}

export function requirePositiveInteger(name: string, value: unknown, fallback: number): number {
  const n = requireNonNegativeInteger(name, value, fallback);
  if (n === 0) {
    throw new InvalidOptionError(
      `Option ${name} is 0; it must be at least 1. Pass a positive integer, or leave it out for the default (${fallback}).`,
    );
  }
  return n;
}

export function requireLogger(value: unknown): Logger {
  if (value === undefined) return silentLogger;
  const candidate = value as Partial<Logger> | null;
  const methods = ['debug', 'info', 'warn', 'error'] as const;
  if (candidate === null || typeof candidate !== 'object' || methods.some((m) => typeof candidate[m] !== 'function')) {
    throw new InvalidOptionError(
      `Option logger is ${describeValue(value)}; it needs debug, info, warn and error methods. ` +
        'Pass an object with those four functions, or leave it out to log nothing.',
    );
  }
  return candidate as Logger;
}

export function resolveSafeSynchronizerOptions(options: SafeSynchronizerOptions = {}): ResolvedSafeSynchronizerOptions {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError(`SafeSynchronizer options are ${describeValue(options)}; they must be an object. Pass an object or nothing.`);
  }
  let lockKey: readonly [number, number] | undefined;
  if (options.lockKey !== undefined) {
    const key: unknown = options.lockKey;
    if (!Array.isArray(key) || key.length !== 2 || !isInt32(key[0]) || !isInt32(key[1])) {
      throw new InvalidOptionError(
        `Option lockKey is ${describeValue(key)}; it must be a pair of 32-bit integers, because PostgreSQL's ` +
          'two-key advisory locks take two int4 values. Pass e.g. [1234, 5678], or leave it out to derive one.',
      );
    }
    lockKey = Object.freeze([key[0], key[1]] as const);
  }
  return {
    lockTimeoutMs: requireNonNegativeInteger('lockTimeoutMs', options.lockTimeoutMs, SAFE_SYNCHRONIZER_DEFAULTS.lockTimeoutMs),
    lockKey,
    maxAttempts: requirePositiveInteger('maxAttempts', options.maxAttempts, SAFE_SYNCHRONIZER_DEFAULTS.maxAttempts),
    retryDelayMs: requireNonNegativeInteger('retryDelayMs', options.retryDelayMs, SAFE_SYNCHRONIZER_DEFAULTS.retryDelayMs),
    logger: requireLogger(options.logger),
  };
}
