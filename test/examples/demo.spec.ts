import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { MAX_PLAIN_TRIALS } from '../../examples/demo/main';
import { serverUrl } from '../support/database';

describe('npm run demo', function () {
  this.timeout(180_000);

  it('repeats plain TypeORM until the race shows, and SafeSynchronizer stores every result', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '..', '..', 'examples', 'demo', 'main.js')], {
      env: { ...process.env, DATABASE_URL: serverUrl() },
      encoding: 'utf8',
    });
    const [plain, safe] = out.split('2. SafeSynchronizer');
    expect(safe).to.contain('workers that failed at startup: 0 of 8').and.contain('results stored:                 32 of 32').and.contain("the client's joinGroup:         all 32 results");
    const trials = Number(/trial (\d+) of at most (\d+):/.exec(plain)?.[1]);
    expect(trials).to.be.within(1, MAX_PLAIN_TRIALS);
    const failed = Number(/workers that failed at startup: (\d+) of 8/.exec(plain)?.[1]);
    if (failed > 0) {
      // The seed's words: PostgreSQL's own duplicate-object errors, with their SQLSTATE.
      expect(plain).to.match(/PostgreSQL said: (duplicate key value violates unique constraint "pg_(type_typname|class_relname)_nsp_index" \(SQLSTATE 23505\)|relation "[^"]+" already exists \(SQLSTATE 42P07\))/);
      expect(out).to.contain('What it means');
    } else {
      expect(trials, 'gave up only at the bound').to.equal(MAX_PLAIN_TRIALS);
    }
    const password = new URL(serverUrl()).password;
    if (password) {
      expect(out, 'the password is redacted').not.to.contain(`:${password}@`);
      expect(out).to.contain(':***@');
    }
  });
});
