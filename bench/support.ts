/** What every benchmark shares: a database per measurement, timing, and summary statistics. */
import { createDatabase, dropDatabase } from '../examples/support/postgres';

/** One line of the results table: ours against a baseline measured in the same run. */
export interface BenchRow {
  benchmark: string;
  case: string;
  ours: string;
  baseline: string;
  /** How many times better ours is than the baseline (>1 is better), or a plain figure. */
  ratio: string;
  target: string;
  /** true, false, or null where the row has no target of its own. */
  met: boolean | null;
}

export interface BenchContext {
  server: string;
  smoke: boolean;
  rows: BenchRow[];
}

export async function withDb<T>(server: string, label: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `trb_bench_${label}_${process.pid}`.toLowerCase();
  const url = await createDatabase(server, name);
  try {
    return await fn(url);
  } finally {
    await dropDatabase(server, name);
  }
}

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function ms(value: number): string {
  return value >= 100 ? `${value.toFixed(0)} ms` : value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`;
}

export function ratio(value: number): string {
  return value >= 100 ? `${value.toFixed(0)}×` : `${value.toFixed(2)}×`;
}

/** Runs `fn` `rounds` times, alternating with `other`, so drift (cache, autovacuum) hits both alike. */
export async function sideBySide(rounds: number, ours: () => Promise<number>, baseline: () => Promise<number>): Promise<{ ours: number[]; baseline: number[] }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      a.push(await ours());
      b.push(await baseline());
    } else {
      b.push(await baseline());
      a.push(await ours());
    }
  }
  return { ours: a, baseline: b };
}

/** Runs `total` operations over `concurrency` loops; resolves to operations per second. */
export async function drive(total: number, concurrency: number, operation: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const elapsed = await time(() =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < total; i = next++) await operation(i);
      }),
    ),
  );
  return total / (elapsed / 1000);
}
