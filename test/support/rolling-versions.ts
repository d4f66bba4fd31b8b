/**
 * Two versions of one app for the rolling-deploy spec: v2 widens `customer`
 * (varchar 50 → 100), adds `note`, and no longer has `legacy`. Both sets of
 * added columns are nullable, as a rolling deploy needs.
 */
import { orders } from './entity-versions';

export type AppVersion = 'v1' | 'v2';

export function appEntity(version: AppVersion) {
  return version === 'v1'
    ? orders({ customer: { type: 'varchar', length: 50 }, legacy: { type: 'text', nullable: true }, writer: { type: 'varchar', length: 40 } })
    : orders({ customer: { type: 'varchar', length: 100 }, note: { type: 'text', nullable: true }, writer: { type: 'varchar', length: 40 } });
}

/** What one row written by `writer` (its n-th) holds, so the spec can check every value that should still be there. */
export function expectedRow(version: AppVersion, writer: string, n: number): { customer: string; legacy?: string; note?: string } {
  return version === 'v1'
    ? { customer: `${writer}-${n}`.padEnd(30, '.'), legacy: `legacy-${writer}-${n}` }
    : { customer: `${writer}-${n}`.padEnd(90, '!'), note: `note-${writer}-${n}` };
}
