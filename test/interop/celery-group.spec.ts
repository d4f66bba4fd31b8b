import { expect } from 'chai';
import {
  CeleryAsyncResult,
  CeleryGroupResult,
  PickleDecodeError,
  PyException,
  UnsafePickleError,
  decodePickle,
  encodePickle,
  tuple,
} from '../../lib/celery/pickle';
import { hex, oracle, requireCelery } from '../pickle/support';

const SECRET = 's3cret';
const BACKEND_URL = `db+postgresql://u:${SECRET}@127.0.0.1/test`;

/** Objects pickled by real Celery 5.2.6, each AsyncResult embedding a DatabaseBackend whose URL holds a password. */
const EXPRS = {
  group: "GroupResult('g-1', [AsyncResult('t-1', app=app), AsyncResult('t-2', app=app)], app=app)",
  withParent: "AsyncResult('child', app=app, parent=AsyncResult('parent', app=app))",
  nested: "GroupResult('outer', [GroupResult('inner', [AsyncResult('t', app=app)], app=app), AsyncResult('u', app=app)], app=app)",
  empty: "GroupResult('empty', [], app=app)",
  inContainers: "[AsyncResult('in-a-list', app=app), {'k': AsyncResult('in-a-dict', app=app)}]",
  exceptions:
    "[celery_exceptions.TimeoutError('t'), celery_exceptions.Retry('msg'), celery_exceptions.TaskRevokedError('revoked'), billiard_exceptions.SoftTimeLimitExceeded()]",
  // What a Celery app's own result classes pickle as: celery.app.base._unpickle_appattr(name, args).
  appGroup: "app.GroupResult('g-app', [app.AsyncResult('t-1'), app.AsyncResult('t-2')])",
  appChain: "app.AsyncResult('c3', parent=app.AsyncResult('c2', parent=app.AsyncResult('c1')))",
  appNested: "app.GroupResult('outer', [app.GroupResult('inner', [app.AsyncResult('t')]), app.AsyncResult('u')])",
  appChordBody: "app.AsyncResult('body', parent=app.GroupResult('header', [app.AsyncResult('h1'), app.AsyncResult('h2')]))",
  appOtherAttr: "type('Sneaky', (), {'__reduce__': lambda self: (__import__('celery.app.base', fromlist=['x'])._unpickle_appattr, ('send_task', ('x',)))})()",
  backendInList: "[AsyncResult('x', app=app), app.backend]",
  backendSharedWithOutput: '(lambda b: [AsyncResult(\'x\', backend=b, app=app), b])(app.backend)',
};
type Name = keyof typeof EXPRS;

interface Restored {
  type: string;
  id: string;
  results?: Restored[];
  parent?: Restored | null;
  uses_app_backend?: boolean;
}

/** Every message this decode can produce, for checking that none carries the secret. */
function messageOf(pickle: Buffer): string | null {
  try {
    decodePickle(pickle);
    return null;
  } catch (err) {
    expect(err).to.satisfy((e: unknown) => e instanceof PickleDecodeError || e instanceof UnsafePickleError);
    return (err as Error).message;
  }
}

describe('pickle: Celery results, checked against real Celery 5.2.6 (/usr/bin/python3 with python3-celery)', () => {
  const pickles = {} as Record<Name, Buffer>;

  before(function () {
    this.timeout(60_000);
    requireCelery();
    const names = Object.keys(EXPRS) as Name[];
    const out = oracle<string[]>('celery_dumps', { backend_url: BACKEND_URL, exprs: names.map((n) => EXPRS[n]) });
    names.forEach((n, i) => (pickles[n] = hex(out[i])));
  });

  describe('decoding', () => {
    it('the pickles really embed the backend URL with its password (so the tests below mean something)', () => {
      expect(pickles.group.toString('latin1')).to.include(`postgresql://u:${SECRET}@`);
    });

    it('reads a GroupResult as { id, results } and drops every backend, password included', () => {
      const v = decodePickle(pickles.group);
      expect(v).to.deep.equal(new CeleryGroupResult('g-1', [new CeleryAsyncResult('t-1'), new CeleryAsyncResult('t-2')]));
      const json = JSON.stringify(v);
      expect(json).to.equal('{"id":"g-1","results":[{"id":"t-1","parent":null},{"id":"t-2","parent":null}]}');
      expect(json).not.to.include(SECRET);
    });

    it('keeps an AsyncResult parent chain', () => {
      expect(decodePickle(pickles.withParent)).to.deep.equal(new CeleryAsyncResult('child', new CeleryAsyncResult('parent')));
    });

    it('reads groups nested in groups, and empty groups', () => {
      expect(decodePickle(pickles.nested)).to.deep.equal(
        new CeleryGroupResult('outer', [new CeleryGroupResult('inner', [new CeleryAsyncResult('t')]), new CeleryAsyncResult('u')]),
      );
      expect(decodePickle(pickles.empty)).to.deep.equal(new CeleryGroupResult('empty', []));
    });

    it("reads a group a Celery app saved (app.GroupResult, pickled as _unpickle_appattr) and drops its backend", () => {
      expect(pickles.appGroup.toString('latin1')).to.include('_unpickle_appattr').and.include(`postgresql://u:${SECRET}@`);
      const v = decodePickle(pickles.appGroup);
      expect(v).to.deep.equal(new CeleryGroupResult('g-app', [new CeleryAsyncResult('t-1'), new CeleryAsyncResult('t-2')]));
      expect(JSON.stringify(v)).not.to.include(SECRET);
    });

    it("follows an app's chain through its parent links, and reads nested app groups", () => {
      expect(decodePickle(pickles.appChain)).to.deep.equal(new CeleryAsyncResult('c3', new CeleryAsyncResult('c2', new CeleryAsyncResult('c1'))));
      expect(decodePickle(pickles.appNested)).to.deep.equal(
        new CeleryGroupResult('outer', [new CeleryGroupResult('inner', [new CeleryAsyncResult('t')]), new CeleryAsyncResult('u')]),
      );
    });

    it("reads a chord's body result with its header group as parent", () => {
      const v = decodePickle(pickles.appChordBody) as CeleryAsyncResult;
      expect(v.id).to.equal('body');
      expect(v.parent).to.deep.equal(new CeleryGroupResult('header', [new CeleryAsyncResult('h1'), new CeleryAsyncResult('h2')]));
    });

    it('refuses any other app attribute, naming it', () => {
      expect(() => decodePickle(pickles.appOtherAttr)).to.throw(UnsafePickleError, "references global celery.app.base._unpickle_appattr('send_task')");
    });

    it('reads results that sit inside ordinary containers', () => {
      const v = decodePickle(pickles.inContainers);
      expect(v).to.deep.equal([new CeleryAsyncResult('in-a-list'), Object.assign(Object.create(null) as object, { k: new CeleryAsyncResult('in-a-dict') })]);
      expect(JSON.stringify(v)).not.to.include(SECRET);
    });

    it('reads celery.exceptions and billiard.exceptions instances', () => {
      expect(decodePickle(pickles.exceptions)).to.deep.equal([
        new PyException('TimeoutError', tuple('t'), 'celery.exceptions'),
        new PyException('Retry', tuple<string | null>('msg', null, null), 'celery.exceptions'),
        new PyException('TaskRevokedError', tuple('revoked'), 'celery.exceptions'),
        new PyException('SoftTimeLimitExceeded', tuple(), 'billiard.exceptions'),
      ]);
    });

    it('refuses the backend object anywhere but the backend slot of an AsyncResult, without quoting its URL', () => {
      for (const name of ['backendInList', 'backendSharedWithOutput'] as const) {
        let err: unknown;
        try {
          decodePickle(pickles[name]);
        } catch (e) {
          err = e;
        }
        expect(err, name).to.be.instanceOf(UnsafePickleError);
        expect((err as UnsafePickleError).message).to.include('references global celery.backends.base.unpickle_backend');
        expect((err as UnsafePickleError).message).not.to.include(SECRET);
      }
    });

    it('never puts the password in an error message, whatever the corruption', function () {
      this.timeout(30_000);
      const messages: string[] = [];
      for (const name of Object.keys(pickles) as Name[]) {
        const p = pickles[name];
        for (let i = 0; i < p.length; i++) {
          messages.push(messageOf(p.subarray(0, i)) ?? '');
          for (const b of [0x00, 0x2e, 0x52, 0x93, 0x8c, 0xff, p[i] ^ 0x01]) {
            const m = Buffer.from(p);
            m[i] = b;
            messages.push(messageOf(m) ?? '');
          }
        }
      }
      expect(messages.filter((m) => m.includes(SECRET) || m.includes('postgresql://'))).to.deep.equal([]);
    });
  });

  describe('encoding for GroupResult.restore', () => {
    it('writes a group that Celery restores from celery_tasksetmeta, each result bound to the current app backend', () => {
      const group = new CeleryGroupResult('g-node', [new CeleryAsyncResult('a'), new CeleryAsyncResult('b', new CeleryAsyncResult('a'))]);
      const restored = oracle<Restored>('celery_restore', { group_id: 'g-node', hex: encodePickle(group).toString('hex') });
      expect(restored).to.deep.equal({
        type: 'GroupResult',
        id: 'g-node',
        results: [
          { type: 'AsyncResult', id: 'a', parent: null, uses_app_backend: true },
          {
            type: 'AsyncResult',
            id: 'b',
            parent: { type: 'AsyncResult', id: 'a', parent: null, uses_app_backend: true },
            uses_app_backend: true,
          },
        ],
      });
    });

    it('round-trips a group Celery wrote (Python -> TypeScript -> Python), minus the dropped backend', () => {
      const restored = oracle<Restored>('celery_restore', { group_id: 'outer', hex: encodePickle(decodePickle(pickles.nested)).toString('hex') });
      expect(restored.id).to.equal('outer');
      expect(restored.results?.map((r) => [r.type, r.id])).to.deep.equal([
        ['GroupResult', 'inner'],
        ['AsyncResult', 'u'],
      ]);
      expect(restored.results?.[0].results?.[0]).to.include({ id: 't', uses_app_backend: true });
    });

    it('writes no backend, app or URL at all: the only globals are celery.result classes', () => {
      const bytes = encodePickle(new CeleryGroupResult('g', [new CeleryAsyncResult('a')])).toString('latin1');
      expect(bytes).to.include('celery.result').and.include('GroupResult').and.include('AsyncResult');
      expect(bytes).not.to.match(/backend|postgres|celery\.(app|_state|backends)/i);
    });
  });
});
