import t from 'tap';
import { LineDecoder, encodeLine, type Frame } from './framing.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function feed(dec: LineDecoder, chunks: Uint8Array[]): Frame[] {
  return chunks.flatMap((c) => dec.push(c));
}

function bytewise(s: string): Buffer[] {
  return [...b(s)].map((x) => Buffer.from([x]));
}

t.test('decoder splits lines', async (t) => {
  const cases: { name: string; chunks: Uint8Array[]; max?: number; want: Frame[] }[] = [
    { name: 'one line', chunks: [b('{"a":1}\n')], want: [{ kind: 'line', text: '{"a":1}' }] },
    { name: 'no newline yet', chunks: [b('{"a":1}')], want: [] },
    { name: 'split across chunks', chunks: [b('{"a"'), b(':1'), b('}\n')], want: [{ kind: 'line', text: '{"a":1}' }] },
    { name: 'byte by byte', chunks: bytewise('{"x":"é"}\n{"y":2}\n'), want: [{ kind: 'line', text: '{"x":"é"}' }, { kind: 'line', text: '{"y":2}' }] },
    { name: 'many in one chunk', chunks: [b('1\n2\n3\n')], want: ['1', '2', '3'].map((text) => ({ kind: 'line' as const, text })) },
    { name: 'CRLF', chunks: [b('1\r\n2\r'), b('\n')], want: [{ kind: 'line', text: '1' }, { kind: 'line', text: '2' }] },
    { name: 'empty and blank lines ignored', chunks: [b('\n\r\n  \n1\n\n')], want: [{ kind: 'line', text: '1' }] },
    { name: 'invalid UTF-8 is reported, next line fine', chunks: [Buffer.from([0xff, 0xfe, 0x0a]), b('2\n')], want: [{ kind: 'invalid-utf8', bytes: 2 }, { kind: 'line', text: '2' }] },
    { name: 'truncated multibyte is invalid', chunks: [Buffer.from([0x22, 0xc3, 0x0a])], want: [{ kind: 'invalid-utf8', bytes: 2 }] },
    { name: 'exactly max is fine', max: 4, chunks: [b('1234\n')], want: [{ kind: 'line', text: '1234' }] },
    { name: 'exactly max with CRLF split is fine', max: 4, chunks: [b('1234\r'), b('\n')], want: [{ kind: 'line', text: '1234' }] },
    { name: 'max+1 is too large', max: 4, chunks: [b('12345\n6\n')], want: [{ kind: 'too-large', bytes: 5 }, { kind: 'line', text: '6' }] },
    {
      name: 'too large across chunks is reported once, rest discarded, then resumes',
      max: 4,
      chunks: [b('123'), b('456'), b('789'), b('0\n'), b('ok\n')],
      want: [{ kind: 'too-large', bytes: 6 }, { kind: 'line', text: 'ok' }],
    },
  ];
  for (const c of cases) {
    const got = feed(new LineDecoder(c.max === undefined ? {} : { maxMessageBytes: c.max }), c.chunks);
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

t.test('decoder does not keep the caller buffer', async (t) => {
  const dec = new LineDecoder();
  const chunk = b('{"a":');
  dec.push(chunk);
  chunk.fill(0x20);
  const got = dec.push(b('1}\n'));
  t.same(got, [{ kind: 'line', text: '{"a":1}' }], `got ${JSON.stringify(got)}; want the line as first pushed`);
});

t.test('50 MiB without a newline stays within max plus one chunk', async (t) => {
  const max = 1024 * 1024;
  const dec = new LineDecoder({ maxMessageBytes: max });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let tooLarge = 0;
  let peak = 0;
  for (let sent = 0; sent < 50 * 1024 * 1024; sent += chunk.length) {
    for (const f of dec.push(chunk)) if (f.kind === 'too-large') tooLarge++;
    peak = Math.max(peak, dec.bufferedBytes);
  }
  t.equal(tooLarge, 1, `got ${tooLarge} too-large frames; want 1`);
  t.ok(peak <= max + 1, `got a peak of ${peak} buffered bytes; want at most ${max + 1}`);
  t.equal(dec.bufferedBytes, 0, `got ${dec.bufferedBytes} buffered while discarding; want 0`);
  const after = dec.push(b('\n{"ok":true}\n'));
  t.same(after, [{ kind: 'line', text: '{"ok":true}' }], `got ${JSON.stringify(after)} after the newline; want the next line`);
});

t.test('finish reports an unterminated message', async (t) => {
  const dec = new LineDecoder();
  dec.push(b('{"half":'));
  const dropped = dec.finish();
  t.equal(dropped, 8, `got ${dropped} dropped bytes; want 8`);
  t.equal(dec.finish(), 0, 'got bytes on a second finish; want 0');
});

t.test('maxMessageBytes must be a positive integer', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new LineDecoder({ maxMessageBytes: bad }), { name: 'TernError', code: 'TERN_E_BUS_USAGE' }, `maxMessageBytes ${bad}: want TERN_E_BUS_USAGE`);
  }
});

t.test('encodeLine escapes newlines inside strings', async (t) => {
  const line = encodeLine({ s: 'a\nb\r\nc' });
  const newlines = line.split('\n').length - 1;
  t.equal(newlines, 1, `got ${newlines} newlines; want only the terminator`);
  t.ok(line.endsWith('\n'), 'want the line to end with \\n');
});
