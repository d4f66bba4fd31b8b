import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PickleDecodeError, UnsafePickleError, decodePickle } from '../../lib/celery/pickle';
import { hex, pythonDumps } from './support';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
/** SHORT_BINUNICODE, protocol 4+. */
const u = (s: string): string => `\x8c${String.fromCharCode(s.length)}${s}`;

function refused(pickle: Buffer): UnsafePickleError {
  try {
    decodePickle(pickle);
  } catch (err) {
    expect(err).to.be.instanceOf(UnsafePickleError);
    return err as UnsafePickleError;
  }
  throw new Error('decodePickle returned instead of refusing');
}

describe('pickle: refusing anything that is not data', () => {
  describe('globals outside the allow-list are refused by name, and never run', () => {
    const canary = path.join(os.tmpdir(), `pickle-canary-${process.pid}-${Date.now()}`);
    const attacks: [string, Buffer, string, string][] = [
      ['os.system via GLOBAL + REDUCE (protocol 0)', bytes(`cos\nsystem\n(S'touch ${canary}'\ntR.`), 'os', 'system'],
      ['posix.system (what os.system pickles as on Linux)', bytes(`cposix\nsystem\n(S'touch ${canary}'\ntR.`), 'posix', 'system'],
      ['subprocess.Popen via STACK_GLOBAL', bytes(`\x80\x04${u('subprocess')}${u('Popen')}\x93${u('touch')}${u(canary)}\x86\x85R.`), 'subprocess', 'Popen'],
      ['builtins.eval', bytes(`\x80\x04${u('builtins')}${u('eval')}\x93${u("__import__('os')")}\x85R.`), 'builtins', 'eval'],
      ['os.system nested inside a list', bytes(`\x80\x04]\x94(K\x01cos\nsystem\n${u('id')}\x85Re.`), 'os', 'system'],
      ['os.system nested in a dict value inside a tuple', bytes(`\x80\x04}${u('k')}cos\nsystem\n${u('id')}\x85Rs\x85.`), 'os', 'system'],
      ['a global pushed and popped, never part of the result', bytes(`\x80\x04${u('os')}${u('system')}\x930N.`), 'os', 'system'],
    ];
    for (const [what, pickle, module, name] of attacks) {
      it(`refuses ${what}`, () => {
        const err = refused(pickle);
        expect(err.module).to.equal(module);
        expect(err.globalName).to.equal(name);
        expect(err.code).to.equal('UNSAFE_PICKLE');
        expect(err.message).to.include(`references global ${module}.${name}`);
        expect(fs.existsSync(canary)).to.equal(false);
      });
    }

    it('explains what was found, why it is refused and what to do', () => {
      expect(refused(bytes("cos\nsystem\n(S'id'\ntR.")).message).to.equal(
        'Pickle at byte 0 references global os.system; only data types and a fixed allow-list of Celery/stdlib types are decoded, ' +
          'because unpickling arbitrary globals executes code. Store results with a data-only serializer, or decode this row in Python.',
      );
    });
  });

  describe('objects CPython pickles with globals we do not model', () => {
    const cases: [string, string, string][] = [
      ['os.system itself', "__import__('os').system", 'posix.system'],
      ['a collections.OrderedDict', "__import__('collections').OrderedDict(a=1)", 'collections.OrderedDict'],
      ['a datetime with a zoneinfo tzinfo', "datetime.datetime(2024, 1, 1, tzinfo=__import__('zoneinfo').ZoneInfo('UTC'))", 'builtins.getattr'], // CPython writes getattr(ZoneInfo, '_unpickle')
      ['a complex number', 'complex(1, 2)', 'builtins.complex'],
      ['a class object from the allow-list, not an instance', 'datetime.date', 'datetime.date'],
      ['a range', 'range(3)', 'builtins.range'],
    ];
    let pickles: string[] = [];
    before(() => {
      pickles = pythonDumps(cases.map(([, expr]) => ({ expr, protocol: 5 })));
    });
    cases.forEach(([what, , global], i) => {
      it(`refuses ${what}, naming ${global}`, () => {
        const err = refused(hex(pickles[i]));
        expect(`${err.module}.${err.globalName}`).to.equal(global);
      });
    });
  });

  describe('opcodes that instantiate classes or load external objects', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['INST', bytes("(ios\nsystem\nS'id'\n."), /instantiates global os\.system with INST/],
      ['OBJ', bytes("(cos\nsystem\nS'id'\no."), /instantiates global os\.system with OBJ/],
      ['NEWOBJ_EX', bytes(`\x80\x04${u('os')}${u('system')}\x93)}\x92.`), /instantiates global os\.system with NEWOBJ_EX/],
      ['NEWOBJ of an allowed class in a form Python does not write', bytes(`\x80\x04${u('builtins')}${u('ValueError')}\x93)\x81.`), /builtins\.ValueError with NEWOBJ/],
      ['EXT1', bytes('\x80\x02\x82\x01.'), /EXT1, which loads a global from the copyreg extension registry/],
      ['EXT2', bytes('\x80\x02\x83\x01\x00.'), /EXT2/],
      ['EXT4', bytes('\x80\x02\x84\x01\x00\x00\x00.'), /EXT4/],
      ['PERSID', bytes('Pfoo\n.'), /PERSID, which asks the application to load an external object/],
      ['BINPERSID', bytes('\x80\x02K\x01Q.'), /BINPERSID/],
    ];
    for (const [op, pickle, message] of cases) {
      it(`refuses ${op}`, () => {
        expect(refused(pickle).message).to.match(message);
      });
    }
  });

  it('refuses a large batch appended to an unknown object with UnsafePickleError, not a crash', () => {
    const err = refused(bytes(`cos\nsystem\n(${'N'.repeat(200_000)}e.`));
    expect(`${err.module}.${err.globalName}`).to.equal('os.system');
  });

  it('never quotes stack strings as a global name: a corrupt STACK_GLOBAL is malformed, not a named global', () => {
    const pickle = bytes(`\x80\x04${u('postgresql://u:s3cret@h/db')}${u('x')}\x93.`);
    expect(() => decodePickle(pickle))
      .to.throw(PickleDecodeError, /does not name a module and attribute/)
      .with.property('message')
      .that.does.not.include('s3cret');
  });

  it('refuses REDUCE on an allowed callable with arguments Python would not write', () => {
    expect(() => decodePickle(bytes(`\x80\x04${u('datetime')}${u('date')}\x93${u('2024-01-01')}\x85R.`))).to.throw(
      PickleDecodeError,
      /datetime\.date expects a 4-byte state/,
    );
  });
});
