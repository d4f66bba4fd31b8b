import { expect } from 'chai';
import { type DecodeOptions, PickleDecodeError, PickleLimitError, UnsafePickleError, decodePickle } from '../../lib/celery/pickle';
import { InvalidOptionError } from '../../lib/errors';
import { celeryRows, hex, pythonDumps } from './support';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const u64 = (n: bigint): string => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b.toString('latin1');
};
const u32 = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b.toString('latin1');
};

function malformed(pickle: Buffer, options?: DecodeOptions): PickleDecodeError {
  try {
    decodePickle(pickle, options);
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(PickleDecodeError);
    return err as PickleDecodeError;
  }
  throw new Error('decodePickle returned instead of throwing PickleDecodeError');
}

describe('pickle: malformed input', () => {
  describe('truncation', () => {
    it('throws PickleDecodeError, and nothing else, when a real Celery pickle is cut at any byte', () => {
      for (const row of celeryRows()) {
        if (!row.columns.result) continue;
        const full = hex(row.columns.result);
        for (let cut = 0; cut < full.length; cut++) malformed(full.subarray(0, cut));
      }
    });

    it('does the same for pickles of every protocol, including the text opcodes of protocol 0', () => {
      const expr = "[1, -2**70, 'é\\n', b'\\xff', (1.5, None, True), {'k': {1, 2}}, frozenset(), datetime.date(2024, 1, 1), UUID(int=5)]";
      for (const h of pythonDumps([0, 1, 2, 3, 4, 5].map((protocol) => ({ expr, protocol })))) {
        const full = hex(h);
        decodePickle(full);
        for (let cut = 0; cut < full.length; cut++) malformed(full.subarray(0, cut));
      }
    });
  });

  describe('declared lengths are checked against the input before anything is allocated', () => {
    const huge: [string, string][] = [
      ['BINUNICODE8', `\x80\x05\x8d${u64(2n ** 40n)}abc.`],
      ['BINBYTES8', `\x80\x05\x8e${u64(2n ** 40n)}abc.`],
      ['BYTEARRAY8', `\x80\x05\x96${u64(2n ** 40n)}abc.`],
      ['FRAME', `\x80\x05\x95${u64(2n ** 40n)}N.`],
      ['BINUNICODE', `\x80\x03X${u32(0xffffffff)}abc.`],
      ['BINBYTES', `\x80\x03B${u32(0xffffffff)}abc.`],
      ['BINSTRING', `T${u32(0x7fffffff)}abc.`],
      ['LONG4', `\x80\x02\x8b${u32(0x7fffffff)}abc.`],
    ];
    for (const [op, pickle] of huge) {
      it(`${op} with a length far beyond the input`, () => {
        const before = process.memoryUsage().arrayBuffers;
        const started = Date.now();
        expect(malformed(bytes(pickle)).message).to.match(new RegExp(`${op} needs \\d+ bytes but only \\d+ remain|${op} declares`));
        expect(Date.now() - started).to.be.below(100);
        expect(process.memoryUsage().arrayBuffers - before).to.be.below(1024 * 1024);
      });
    }

    it('a 64-bit length of 2**64-1 is reported without overflowing', () => {
      expect(malformed(bytes(`\x80\x05\x8d${u64(2n ** 64n - 1n)}.`)).message).to.include('2**53 bytes or more');
    });
  });

  describe('nesting is bounded', () => {
    it('refuses nested lists deeper than maxDepth (default 1000) but reads them below it', () => {
      const nested = (depth: number): Buffer => bytes(`${']'.repeat(depth)}${'a'.repeat(depth - 1)}.`);
      expect(decodePickle(nested(900))).to.be.an('array');
      const err = malformed(nested(1500));
      expect(err).to.be.instanceOf(PickleLimitError);
      expect((err as PickleLimitError).limit).to.equal('maxDepth');
      expect(decodePickle(nested(1500), { maxDepth: 2000 })).to.be.an('array');
    });

    it('refuses 100,000 nested tuples without exhausting the JS stack, even at the highest maxDepth', () => {
      const pickle = bytes(`\x80\x02N${'\x85'.repeat(100_000)}.`);
      expect(malformed(pickle)).to.be.instanceOf(PickleLimitError);
      expect(malformed(pickle, { maxDepth: 10_000 })).to.be.instanceOf(PickleLimitError);
    });

    it('refuses MARKs nested deeper than maxDepth', () => {
      expect((malformed(bytes('('.repeat(5000))) as PickleLimitError).limit).to.equal('maxDepth');
    });
  });

  describe('other limits', () => {
    it('maxInputBytes', () => {
      expect((malformed(bytes('N.'.padEnd(100, ' ')), { maxInputBytes: 10 }) as PickleLimitError).limit).to.equal('maxInputBytes');
    });
    it('maxMemoEntries', () => {
      expect((malformed(bytes(`\x80\x04N${'\x94'.repeat(10)}.`), { maxMemoEntries: 5 }) as PickleLimitError).limit).to.equal('maxMemoEntries');
    });
    it('maxContainerElements, for containers and for the stack', () => {
      expect((malformed(bytes(`](${'N'.repeat(20)}e.`), { maxContainerElements: 10 }) as PickleLimitError).limit).to.equal('maxContainerElements');
      expect((malformed(bytes(`${'N'.repeat(20)}.`), { maxContainerElements: 10 }) as PickleLimitError).limit).to.equal('maxContainerElements');
    });
    it('maxObjects, a total budget that bounds memory for inputs full of one-byte containers', () => {
      const many = bytes(`]${']a'.repeat(100)}.`);
      expect(decodePickle(many)).to.have.length(100);
      expect((malformed(many, { maxObjects: 50 }) as PickleLimitError).limit).to.equal('maxObjects');
      // Fetching the same object again from the memo allocates nothing, so it is not counted.
      expect(decodePickle(bytes(`\x80\x04]\x94(${'h\x00'.repeat(200)}e.`), { maxObjects: 1 })).to.have.length(200);
    });
    it('Python 3.11 int-string limit of 4300 digits for the text INT/LONG opcodes', () => {
      expect(decodePickle(bytes(`L${'9'.repeat(4300)}L\n.`))).to.be.a('bigint');
      malformed(bytes(`L${'9'.repeat(4301)}L\n.`));
    });
    it('rejects options that are not positive integers as a programming error (InvalidOptionError)', () => {
      for (const options of [{ maxDepth: 0 }, { maxDepth: 1e6 }, { maxObjects: 1.5 }]) {
        expect(() => decodePickle(bytes('N.'), options)).to.throw(InvalidOptionError, /must be a positive integer/);
      }
    });
  });

  describe('structural errors', () => {
    const cases: [string, string, RegExp][] = [
      ['empty input', '', /needs 1 bytes but only 0 remain/],
      ['no STOP', '\x80\x04N', /needs 1 bytes/],
      ['an unknown opcode', '\x80\x05\xff.', /unknown opcode 0xff/],
      ['an unsupported protocol', '\x80\x06N.', /unsupported pickle protocol 6/],
      ['STOP on an empty stack', '.', /STOP found the stack empty/],
      ['APPEND on an empty stack', 'a.', /stack underflow/],
      ['TUPLE1 on an empty stack', '\x80\x02\x85.', /stack underflow/],
      ['REDUCE on an empty stack', 'R.', /stack underflow/],
      ['POP with nothing to pop', '0.', /stack underflow/],
      ['TUPLE without MARK', 'Nt.', /found no MARK/],
      ['POP_MARK without MARK', '1.', /found no MARK/],
      ['BINGET of an index never stored', '\x80\x02h\x05.', /memo index 5 was never stored/],
      ['GET of an index never stored', 'g7\n.', /memo index 7 was never stored/],
      ['PUT with a bad index', 'Np-1\n.', /PUT argument is not a memo index/],
      ['SETITEMS with an odd item count', '}(K\x01u.', /odd number of items/],
      ['a list as a dict key', '}]K\x01s.', /dict key is an unhashable list/],
      ['a dict as a set member', '\x80\x04\x8f(}\x90.', /set member is an unhashable dict/],
      ['APPEND to a dict', '}K\x01a.', /APPEND to a dict/],
      ['SETITEM on a list', ']K\x01K\x02s.', /SETITEM on a list/],
      ['BUILD on a list', ']}b.', /BUILD sets state on a list/],
      ['REDUCE of an int', 'K\x01)R.', /REDUCE applies a int or float, which is not a callable global/],
      ['invalid UTF-8', '\x80\x04\x8c\x02\xff\xfe.', /not valid UTF-8/],
      ['a non-ASCII Python 2 str', 'U\x01\xe9.', /not ASCII/],
      ['an unquoted STRING', 'Sabc\n.', /not quoted/],
      ['a bad \\x escape in STRING', "S'\\xZZ'\n.", /invalid escape/],
      ['a bad \\u escape in UNICODE', 'V\\u12\n.', /invalid \\u escape/],
      ['an INT that is not a number', 'I12a\n.', /not a decimal integer/],
      ['a FLOAT that is not a number', 'F1.2.3\n.', /FLOAT argument is not a number/],
      ['NEXT_BUFFER without out-of-band buffers', '\x80\x05\x97.', /out-of-band buffer/],
      ['READONLY_BUFFER on a non-buffer', '\x80\x05N\x98.', /non-buffer/],
      ['a NEWOBJ uuid.UUID never given its state', `\x80\x04\x8c\x04uuid\x8c\x04UUID\x93)\x81.`, /never set/],
      ['a datetime with month 13', `\x80\x04\x8c\x08datetime\x8c\x08datetime\x93C\x0a\x07\xe8\x0d\x01\x00\x00\x00\x00\x00\x00\x85R.`, /month/],
      ['a timedelta beyond Python range', `\x80\x04\x8c\x08datetime\x8c\x09timedelta\x93J\x00\xca\x9a\x3bK\x00K\x00\x87R.`, /out of range/],
    ];
    for (const [what, pickle, message] of cases) {
      it(`${what}`, () => {
        expect(malformed(bytes(pickle)).message).to.match(message);
      });
    }

    it('an input that is not bytes is a programming error (InvalidOptionError)', () => {
      expect(() => decodePickle('N.' as unknown as Buffer)).to.throw(InvalidOptionError, /given a string, not bytes/);
    });

    it('gives the byte offset of the opcode and the three-part explanation', () => {
      const err = malformed(bytes('\x80\x04NN\xff.'));
      expect(err.offset).to.equal(4);
      expect(err.code).to.equal('PICKLE_DECODE_ERROR');
      expect(err.message).to.equal(
        'Pickle is malformed at byte 4: unknown opcode 0xff. It cannot be decoded because it is not complete, valid pickle data. ' +
          'Check that the bytes are the whole column value, read as bytea, and were written by Python pickle.dumps.',
      );
    });

    it('is not an UnsafePickleError: malformed and unsafe are told apart', () => {
      expect(malformed(bytes('.'))).not.to.be.instanceOf(UnsafePickleError);
    });
  });
});
