/**
 * Coalesces concurrent stores from this process into multi-row statements.
 *
 * Why: a store that somebody waits for NOTIFYs, and PostgreSQL serializes
 * the commits of notifying transactions on one database-wide lock held
 * through the WAL flush. Sixteen writers that each commit their own store
 * queue up behind that lock one fsync at a time (`pg_stat_activity` showed
 * them waiting on `Lock:object` nearly all the time). Stores that arrive
 * while `maxInFlight` statements are already running wait for the next one
 * and share it: one commit, one flush, one turn at the lock for all of them.
 *
 * A store that finds a free slot goes at once, alone, with the one-row
 * statement: a lone writer pays nothing. Only stores that would otherwise
 * wait are grouped.
 *
 * Stores that find no slot wait at most `maxWaitMs`: then they go anyway,
 * as one more statement, so a statement that stalls on a row lock holds the
 * others back for that long, not until it ends.
 *
 * What a batch keeps: task ids are distinct in it, and a store of a task
 * that is in a running statement waits for it to end, so stores of one task
 * apply in call order; all rows carry the same extra columns; the bytes of a
 * batch are bounded.
 * When a batch fails, each of its stores is sent again on its own, so each
 * caller gets its own outcome (a CHECK violation fails only its store).
 */
import type { StoreParams } from './store';

export interface StoreBatcherOptions {
  /** Statements that may run at once; stores beyond that wait and are grouped. */
  maxInFlight: number;
  /**
   * How long queued stores wait for a slot before they go anyway, as one more
   * statement: a statement that stalls (a row lock someone holds) holds the
   * others back this long at most.
   */
  maxWaitMs: number;
  /** Rows in one statement at most. */
  maxRows: number;
  /** Payload bytes (result, args, kwargs, traceback) in one statement at most; a bigger store goes alone. */
  maxBytes: number;
  /** Sends one store; resolves to whether it was applied. */
  one(params: StoreParams): Promise<boolean>;
  /** Sends several stores of distinct ids in one statement; resolves to the ids whose write was applied. */
  many(rows: readonly StoreParams[]): Promise<ReadonlySet<string>>;
}

interface Pending {
  params: StoreParams;
  resolve(applied: boolean): void;
  reject(error: unknown): void;
}

function bytesOf(p: StoreParams): number {
  return (p.result?.length ?? 0) + (p.args?.length ?? 0) + (p.kwargs?.length ?? 0) + (p.traceback?.length ?? 0);
}

/** The extra columns a row carries, by name: rows of one statement must all carry the same. */
function shapeOf(p: StoreParams): string {
  return p.extra.map(([column]) => column).join('\u0000');
}

export class StoreBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  /** Task ids in statements that are running: a later store of one of them waits, so stores of a task apply in call order. */
  private readonly running = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: StoreBatcherOptions) {}

  store(params: StoreParams): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ params, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.launch());
    // Only stores waiting for a slot need the timer. With a slot free, what stays queued waits for a
    // running statement of its own task, and goes when that ends (launch's finally pumps).
    if (this.queue.length > 0 && this.inFlight >= this.options.maxInFlight && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.launch();
        this.pump();
      }, this.options.maxWaitMs);
    }
  }

  /** Sends the next statement, if any store in the queue may go now. */
  private launch(): boolean {
    const batch = this.take();
    if (batch.length === 0) return false;
    this.inFlight++;
    for (const b of batch) this.running.set(b.params.taskId, (this.running.get(b.params.taskId) ?? 0) + 1);
    void this.send(batch).finally(() => {
      this.inFlight--;
      for (const b of batch) {
        const n = this.running.get(b.params.taskId)! - 1;
        if (n === 0) this.running.delete(b.params.taskId);
        else this.running.set(b.params.taskId, n);
      }
      this.pump();
    });
    return true;
  }

  /** The next statement's stores, from the front of the queue, in order; what cannot join stays queued, in order. */
  private take(): Pending[] {
    const { maxRows, maxBytes } = this.options;
    const batch: Pending[] = [];
    const ids = new Set<string>();
    // Ids of stores left behind: a later store of the same id must not overtake them.
    const blocked = new Set<string>();
    let shape = '';
    let bytes = 0;
    const rest: Pending[] = [];
    for (const pending of this.queue) {
      const p = pending.params;
      const size = bytesOf(p);
      const free = !ids.has(p.taskId) && !blocked.has(p.taskId) && !this.running.has(p.taskId);
      const joins = free && (batch.length === 0 || (batch.length < maxRows && shapeOf(p) === shape && bytes + size <= maxBytes));
      if (joins) {
        if (batch.length === 0) shape = shapeOf(p);
        batch.push(pending);
        ids.add(p.taskId);
        bytes += size;
      } else {
        rest.push(pending);
        blocked.add(p.taskId);
      }
    }
    this.queue.splice(0, this.queue.length, ...rest);
    return batch;
  }

  private async send(batch: readonly Pending[]): Promise<void> {
    if (batch.length === 1) return this.sendOne(batch[0]);
    let applied: ReadonlySet<string>;
    try {
      applied = await this.options.many(batch.map((b) => b.params));
    } catch {
      // Each store on its own, so that each caller gets its own outcome.
      await Promise.all(batch.map((b) => this.sendOne(b)));
      return;
    }
    for (const b of batch) b.resolve(applied.has(b.params.taskId));
  }

  private async sendOne(pending: Pending): Promise<void> {
    try {
      pending.resolve(await this.options.one(pending.params));
    } catch (error) {
      pending.reject(error);
    }
  }
}
