import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { serverUrl } from '../support/database';

describe('npm run example:rolling-deploy', function () {
  this.timeout(120_000);

  it('v2 widens and adds in place, v1 restarting keeps what v2 made, v3 that narrows is refused', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '..', '..', 'examples', 'rolling-deploy', 'main.js')], { env: { ...process.env, DATABASE_URL: serverUrl() }, encoding: 'utf8' });
    const [v1, v2, v1again, v2again, ...rest] = out.split(/^(?=v\d )/m);
    const v3 = rest.join('');
    expect(v1).to.contain('rows 20, customers 20');
    expect(v2).to.contain('ALTER TABLE "orders" ALTER COLUMN "customer" TYPE character varying(100) USING "customer"::character varying(100)').and.contain('kept orders.legacy (removed)');
    expect(v2).to.contain('rows 25, customers 25, longest customer 80 characters');
    expect(v1again).to.contain('v1 started: no DDL').and.contain('kept orders.customer (narrower)').and.contain('kept orders.note (removed)');
    expect(v1again).to.contain('rows 25, customers 25, longest customer 80 characters');
    expect(v2again).to.contain('(verified by fingerprint)');
    expect(v3).to.contain('[refused] ALTER TABLE "orders" DROP COLUMN "customer"').and.contain('v3 refused before any DDL: orders.customer, 25 values');
  });
});
