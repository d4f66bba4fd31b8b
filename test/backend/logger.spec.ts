import { expect } from 'chai';
import { InvalidOptionError, ResultBackend } from '../../lib';
import { openBackend } from '../support/backend';
import { useTestDatabase } from '../support/database';

/** Records calls the way console and NestJS's Logger receive them: log/warn/error/debug, no info. */
class ConsoleShaped {
  readonly calls: [string, string, unknown[]][] = [];
  constructor(private readonly context: string) {}
  log(message: string, ...rest: unknown[]): void {
    this.calls.push(['log', `${this.context}: ${message}`, rest]);
  }
  warn(message: string, ...rest: unknown[]): void {
    this.calls.push(['warn', `${this.context}: ${message}`, rest]);
  }
  error(message: string, ...rest: unknown[]): void {
    this.calls.push(['error', `${this.context}: ${message}`, rest]);
  }
  debug(message: string, ...rest: unknown[]): void {
    this.calls.push(['debug', `${this.context}: ${message}`, rest]);
  }
}

describe('The logger option', () => {
  const db = useTestDatabase();

  it('takes a console-style logger (log, warn, error, debug) such as NestJS’s, calling it on itself', async () => {
    const logger = new ConsoleShaped('results');
    const f = await openBackend(db.current().url, { logger });
    try {
      await f.backend.cleanup();
    } finally {
      await f.close();
    }
    // info goes to log(), with the fields as one more argument; `this` (the context) is kept.
    expect(logger.calls).to.deep.include(['log', 'results: cleanup done', [{ tasks: 0, unfinishedTasks: 0, groups: 0 }]]);
  });

  it('refuses an object with neither shape', async () => {
    const f = await openBackend(db.current().url);
    try {
      expect(() => new ResultBackend(f.ds, { logger: { log() {} } as never })).to.throw(InvalidOptionError, /debug, info, warn and error methods, or log, warn and error/);
    } finally {
      await f.close();
    }
  });
});
