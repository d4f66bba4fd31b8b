import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { serverUrl } from '../support/database';

describe('npm run demo', function () {
  this.timeout(180_000);

  it('shows SafeSynchronizer storing every result of the group, beside plain TypeORM', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '..', '..', 'examples', 'demo', 'main.js')], {
      env: { ...process.env, DATABASE_URL: serverUrl() },
      encoding: 'utf8',
    });
    const safe = out.slice(out.indexOf('SafeSynchronizer'));
    expect(safe).to.contain('workers failed at startup: 0 of 8').and.contain('results stored:            32 of 32').and.contain('client joinGroup:          all 32 results');
    expect(out).to.contain('plain synchronize: true');
    const password = new URL(serverUrl()).password;
    if (password) {
      expect(out, 'the password is redacted').not.to.contain(`:${password}@`);
      expect(out).to.contain(':***@');
    }
  });
});
