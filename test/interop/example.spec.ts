import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { serverUrl } from '../support/database';

describe('examples/celery-interop', function () {
  this.timeout(120_000);

  it('reads a Python task’s result from Node, and Python reads a Node task’s result', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '..', '..', 'examples', 'celery-interop', 'main.js')], {
      env: { ...process.env, DATABASE_URL: serverUrl() },
      encoding: 'utf8',
    });
    expect(out).to.contain("python stored {'total': Decimal('12.50'), 'at': datetime.datetime(2026, 11, 24, 12, 0), 'items': ('apple', 'pear')}");
    expect(out).to.contain("PyDecimal { value: '12.50' }").and.contain("PyTuple(2) [ 'apple', 'pear' ]");
    expect(out).to.contain("python read   {'greeting': 'hello from node', 'n': 18446744073709551616, 'when': datetime.datetime(2026, 11, 24, 12, 0)}");
  });
});

describe('examples/celery-workers', function () {
  this.timeout(180_000);

  it('joins a group and a chord that real prefork workers computed', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '..', '..', 'examples', 'celery-workers', 'main.js')], {
      env: { ...process.env, DATABASE_URL: serverUrl() },
      encoding: 'utf8',
    });
    expect(out).to.contain('node: group joined [0,1,4,9,16]').and.contain('node: chord header [0,1,4], body 5');
  });
});
