import type { Client, Notification } from 'pg';
import { BackendClosedError, WaitTimeoutError } from '../errors';
import type { Logger } from '../logger';
import { randomUUID } from 'node:crypto';
import { listenSql } from '../dialects/postgres/backend-sql';
import { isReadyState } from '../celery/states';
import { UNREGISTER_DELAY_MS } from '../options';

/** The row fields the waiter needs to decide readiness; the rest is carried along. */
export interface ReadyRow {
  task_id: string;
  status: string | null;
}

export interface WaiterOptions<R extends ReadyRow> {
  /** Reads the current rows of these tasks in one query. */
  fetch(taskIds: readonly string[]): Promise<R[]>;
  /** Opens the dedicated LISTEN connection, or null to poll. */
  connect: (() => Promise<Client>) | null;
  /** Resolved lazily: the table names are known only once the DataSource is initialized. */
  channel(): string;
  /** Re-read period for pending waits: the poll interval, or the safety recheck under LISTEN (0 = none). */
  intervalMs: number;
  /**
   * How long the LISTEN connection may take to receive its own probe
   * notification before the waiter concludes that notifications cannot reach
   * it (a pooler in transaction mode) and polls every `pollIntervalMs` instead.
   */
  probeTimeoutMs: number;
  pollIntervalMs: number;
  /**
   * True while the task table does not exist yet (a fresh database): pending
   * waits re-read every `pollIntervalMs`, and record their interests once it exists.
   */
  tablesMissing?(): boolean;
  /** Sends a NOTIFY on the channel from another session (the pool): the probe. False when it was not sent (the NOTIFY queue is over its limit). */
  notify(payload: string): Promise<boolean>;
  logger: Logger;
  /**
   * Interests, where the task table notifies only for waited-for tasks: what
   * the LISTEN connection runs to record that it waits for ids (committed
   * before the wait's first read), to drop them, and to clear those of dead
   * connections when it connects.
   */
  interests?: {
    register(client: Client, taskIds: readonly string[]): Promise<void>;
    unregister(client: Client, taskIds: readonly string[]): Promise<void>;
    purge(client: Client): Promise<void>;
  };
}

interface Wait<R> {
  ids: readonly string[];
  remaining: Set<string>;
  rows: Map<string, R>;
  resolve(rows: Map<string, R>): void;
  reject(error: unknown): void;
}

/**
 * Wakes waiters when their tasks become ready. One LISTEN connection per
 * backend serves every waiter; a wait subscribes before it reads the rows, so
 * a result stored in between is never missed. Notifications only say which
 * task ids to re-read: the rows themselves come from the table.
 */
export class ResultWaiter<R extends ReadyRow> {
  private readonly waits = new Map<string, Set<Wait<R>>>();
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly woken = new Set<string>();
  private flushing = false;
  private closed = false;
  private readonly unwanted = new Set<string>();
  private unregistering = false;
  private unregisterTimer: NodeJS.Timeout | undefined;
  private toRegister: { ids: readonly string[]; done: () => void }[] = [];
  /** Set once the LISTEN connection has been found deaf (behind a transaction pooler): waits poll. */
  private deaf = false;
  /** True once a LISTEN connection has been set up: any later one is a reconnect. */
  private reconnecting = false;
  private readonly probes = new Map<string, () => void>();
  private readonly warned = new Set<string>();
  private listenerQueue: Promise<void> = Promise.resolve();
  /** The tables were missing at the last read: waits poll until they appear. */
  private missing = false;
  private timerInterval = 0;

  constructor(private readonly options: WaiterOptions<R>) {}

  /**
   * Resolves with every task's row once all are ready. The first read comes
   * before anything else: most joins find every result ready and cost that
   * one query. For what is still missing, the wait listens, records its
   * interest, and only then reads again, so a result stored at any moment is
   * either in that read or notified after it.
   */
  async wait(taskIds: readonly string[], timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<Map<string, R>> {
    if (this.closed) throw new BackendClosedError();
    signal?.throwIfAborted();
    let wait!: Wait<R>;
    const settled = new Promise<Map<string, R>>((resolve, reject) => {
      wait = { ids: taskIds, remaining: new Set(taskIds), rows: new Map(), resolve, reject };
    });
    // Rejections may land while a read is in flight; they are awaited below.
    settled.catch(() => undefined);
    // The timeout is a promise from the moment of the call: a read or a registration that is held up
    // (a lock someone else holds, a slow server) cannot stretch it.
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => wait.reject(new WaitTimeoutError([...wait.remaining], timeoutMs)), timeoutMs);
    const onAbort = () => wait.reject(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    // Each step ends early when the wait settles (timeout, abort, close); the step itself finishes in the background.
    const step = <T>(work: Promise<T>): Promise<T> => Promise.race([work, settled.then(() => work)]);
    try {
      // The first read, before any bookkeeping: a join whose tasks are all ready ends here.
      this.fill(wait, await step(this.options.fetch(taskIds)));
      if (wait.remaining.size === 0) return wait.rows;
      this.afterRead();
      signal?.throwIfAborted();
      for (const id of wait.remaining) {
        if (!this.waits.has(id)) this.waits.set(id, new Set());
        this.waits.get(id)!.add(wait);
      }
      await step(this.ensureListening());
      this.schedule();
      await step(this.register([...wait.remaining]));
      // Listening and registered: anything stored since the first read is in this one, or notified after it.
      if (wait.remaining.size > 0) {
        this.deliver(await step(this.options.fetch([...wait.remaining])));
        this.afterRead();
      }
      return await settled;
    } finally {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.forget(wait);
    }
  }

  /** The first read's ready rows, into a wait nobody else sees yet. */
  private fill(wait: Wait<R>, rows: readonly R[]): void {
    for (const row of rows) {
      if (!isReadyState(row.status) || !wait.remaining.has(row.task_id)) continue;
      wait.rows.set(row.task_id, row);
      wait.remaining.delete(row.task_id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // Interests still unwanted go with the LISTEN connection: the next connect purges those of ended sessions.
    if (this.unregisterTimer) clearTimeout(this.unregisterTimer);
    this.unregisterTimer = undefined;
    const error = new BackendClosedError();
    for (const set of this.waits.values()) for (const w of set) w.reject(error);
    this.waits.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private deliver(rows: readonly R[]): void {
    for (const row of rows) {
      if (!isReadyState(row.status)) continue;
      for (const wait of this.waits.get(row.task_id) ?? []) {
        wait.rows.set(row.task_id, row);
        wait.remaining.delete(row.task_id);
        if (wait.remaining.size === 0) wait.resolve(wait.rows);
      }
    }
  }

  private forget(wait: Wait<R>): void {
    for (const id of wait.ids) {
      const set = this.waits.get(id);
      set?.delete(wait);
      if (set?.size === 0) {
        this.waits.delete(id);
        this.unwanted.add(id);
      }
    }
    this.schedule();
    this.unregister();
  }

  /**
   * Records interest in the ids before the wait's first read. Waits that start
   * together share one statement. If it fails, the wait still resolves, on the
   * periodic re-read: say so, do not fail it.
   */
  private register(taskIds: readonly string[]): Promise<void> {
    const client = this.client;
    const interests = this.options.interests;
    if (!client || !interests) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.toRegister.push({ ids: taskIds, done: resolve });
      if (this.toRegister.length > 1) return; // a batch is already queued; this rides along
      void this.onListener(async () => {
        const batch = this.toRegister.splice(0);
        try {
          await interests.register(client, [...new Set(batch.flatMap((b) => b.ids))]);
        } catch (error) {
          this.warnOnce('register', 'recording waits for wake-ups failed; those waits wake on a NOTIFY the writer sends anyway, or on the periodic re-read', error);
        } finally {
          for (const b of batch) b.done();
        }
      });
    });
  }

  /**
   * Drops interests nobody here waits for any more, batched, off the waiter's
   * path, and a little later (UNREGISTER_DELAY_MS): with a waiter on every
   * task, one DELETE per finished wait cost a third of the stores' throughput
   * at 4 writers. An interest that outlives its wait by a few milliseconds
   * costs nothing: the task is ready, so nothing notifies for it again unless
   * it is stored again, and then the NOTIFY is one needless message.
   */
  private unregister(): void {
    const client = this.client;
    const interests = this.options.interests;
    if (!client || !interests || this.unregistering || this.unwanted.size === 0) return;
    this.unregistering = true;
    this.unregisterTimer = setTimeout(() => this.dropUnwanted(client, interests), UNREGISTER_DELAY_MS);
    this.unregisterTimer.unref();
  }

  private dropUnwanted(client: Client, interests: NonNullable<WaiterOptions<R>['interests']>): void {
    this.unregisterTimer = undefined;
    void this.onListener(async () => {
      const ids = [...this.unwanted].filter((id) => !this.waits.has(id));
      this.unwanted.clear();
      try {
        if (ids.length) await interests.unregister(client, ids);
      } catch (error) {
        this.options.logger.debug('dropping finished waits from the interest table failed; they are cleared when their connection ends', { error: String(error) });
      } finally {
        this.unregistering = false;
        if (this.unwanted.size) this.unregister();
      }
    });
  }

  /**
   * The first failure of each kind is a warning; repeats (a hostile lock
   * holder makes every registration time out) go to debug, so the log is not flooded.
   */
  private warnOnce(kind: string, message: string, error: unknown): void {
    const fields = { error: error instanceof Error ? error.message : String(error) };
    if (this.warned.has(kind)) return this.options.logger.debug(message, fields);
    this.warned.add(kind);
    this.options.logger.warn(message, fields);
  }

  /** One statement at a time on the LISTEN connection, in order: a pg Client must not be given a second query while one runs. */
  private onListener(run: () => Promise<void>): Promise<void> {
    // A client replaced meanwhile makes run()'s statement fail; run() settles its callers either way.
    const next = this.listenerQueue.then(run);
    this.listenerQueue = next.catch(() => undefined);
    return next;
  }

  /** The periodic re-read runs only while someone waits. */
  private schedule(): void {
    const interval = this.deaf || this.missing ? this.options.pollIntervalMs : this.options.intervalMs;
    const active = this.waits.size > 0 && interval > 0 && !this.closed;
    if (this.timer && (!active || interval !== this.timerInterval)) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    if (active && !this.timer) {
      this.timer = setInterval(() => this.wake([...this.waits.keys()]), interval);
      this.timer.unref();
      this.timerInterval = interval;
    }
  }

  /**
   * After each re-read: on a fresh database the tables may have just
   * appeared (a Celery worker made them). Then the pending waits record their
   * interests (the store installs the trigger first, where it may), are read
   * once more so nothing stored in between is missed, and the re-read goes
   * back to its normal period.
   */
  private afterRead(): void {
    const missing = this.options.tablesMissing?.() === true;
    const appeared = this.missing && !missing;
    this.missing = missing;
    this.schedule();
    if (!appeared || this.waits.size === 0) return;
    const ids = [...this.waits.keys()];
    void this.register(ids).then(() => this.wake(ids));
  }

  /** Batches wake-ups: many notifications in one tick become one query. */
  private wake(taskIds: readonly string[]): void {
    for (const id of taskIds) if (this.waits.has(id)) this.woken.add(id);
    if (this.flushing || this.woken.size === 0) return;
    this.flushing = true;
    setImmediate(() => {
      const ids = [...this.woken];
      this.woken.clear();
      this.options
        .fetch(ids)
        .then((rows) => {
          this.deliver(rows);
          this.afterRead();
        })
        .catch((error: unknown) => this.options.logger.warn('re-reading waited tasks failed; the next wake-up retries', { error: String(error) }))
        .finally(() => {
          this.flushing = false;
          if (this.woken.size) this.wake([]);
        });
    });
  }

  private async ensureListening(): Promise<void> {
    if (!this.options.connect || this.client || this.deaf) return;
    this.connecting ??= this.listen().finally(() => (this.connecting = undefined));
    await this.connecting;
  }

  private async listen(): Promise<void> {
    const client = await this.options.connect!();
    client.on('notification', (n: Notification) => {
      if (n.channel !== this.options.channel() || !n.payload) return;
      if (n.payload.startsWith(PROBE_PREFIX)) this.probes.get(n.payload)?.();
      else this.wake([n.payload]);
    });
    client.on('error', (error: Error) => {
      this.options.logger.warn('the LISTEN connection failed; reconnecting on the next wait, polling meanwhile', { error: error.message });
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      // Whatever was notified while we were away is caught by re-reading every pending task.
      this.wake([...this.waits.keys()]);
      if (!this.closed && this.waits.size) void this.ensureListening().catch(() => undefined);
    });
    try {
      await client.query(listenSql(this.options.channel()));
      if (!(await this.probe())) {
        this.options.logger.warn(
          `the LISTEN connection did not receive its own probe notification within ${this.options.probeTimeoutMs} ms, so notifications cannot reach it: ` +
            'it most likely goes through a pooler in transaction mode (PgBouncer), where they go to a server connection the client no longer holds. ' +
            `Waits now poll every ${this.options.pollIntervalMs} ms. For push wake-ups, pass listenConnection: a URL that reaches PostgreSQL directly.`,
          {},
        );
        this.deaf = true;
        await client.end().catch(() => undefined);
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        this.schedule();
        return;
      }
      if (this.options.interests) {
        // Housekeeping and re-registration may fail (a lock held elsewhere, a revoked grant) without failing any wait.
        try {
          await this.options.interests.purge(client);
          // After a reconnect: the new connection waits for what the old one did.
          if (this.waits.size) await this.options.interests.register(client, [...this.waits.keys()]);
        } catch (error) {
          this.warnOnce('purge', 'clearing the waits of ended connections failed; they only cost needless NOTIFYs until it succeeds', error);
        }
      }
    } catch (error) {
      // Never leave the connection open behind a failed setup: the process would not exit.
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
    // After a reconnect, re-read every pending task: what was stored while no connection listened
    // was notified to nobody. (On the first connect, each wait does its own read after registering.)
    if (this.reconnecting && this.waits.size) this.wake([...this.waits.keys()]);
    this.reconnecting = true;
  }

  /**
   * Sends a notification from another session (the pool) and waits for the
   * LISTEN connection to receive it. From its own session it would come back
   * even through a transaction pooler (the pooler forwards what arrives while
   * the client holds the server connection), and prove nothing.
   */
  private async probe(): Promise<boolean> {
    const payload = `${PROBE_PREFIX}${randomUUID()}`;
    let timer: NodeJS.Timeout | undefined;
    const received = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.options.probeTimeoutMs);
      this.probes.set(payload, () => resolve(true));
    });
    try {
      if (!(await this.options.notify(payload))) {
        // Nobody's NOTIFY is sent while the queue is this full (an idle listener holds it back), so
        // there is nothing to prove: listen as usual, and waits wake on the re-read until it drains.
        this.warnOnce('probe', 'the NOTIFY queue is over half full (a listener that does not read holds it back), so the LISTEN probe was not sent; waits wake on the periodic re-read until it drains', 'pg_notification_queue_usage() is at or above the limit');
        return true;
      }
      return await received;
    } finally {
      clearTimeout(timer);
      this.probes.delete(payload);
    }
  }
}

/** Payloads of probe notifications; never a task id the waiter would re-read. */
const PROBE_PREFIX = 'trb-probe:';
