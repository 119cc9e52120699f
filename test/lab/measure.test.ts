// Unit tests of the fping output parser (no root needed).
import t from 'tap';
import { parseFpingC } from './measure.js';

t.test('parseFpingC reads per-probe RTTs, losses and padding', async (t) => {
  const out = [
    'ICMP Network Unreachable from 198.18.1.1 for ICMP Echo Request sent to 10.2.0.10',
    '10.1.0.2   : 0.05 0.07 - 0.04',
    '198.18.2.2 : 40.1 40.3 40.2 40.6',
    '10.2.0.10  : - - - -',
    '',
  ].join('\n');
  const [a, b, c] = parseFpingC(out, ['10.1.0.2', '198.18.2.2', '10.2.0.10']);
  const table: Array<[string, number | undefined, number]> = [
    ['a sent', a?.sent, 4],
    ['a received', a?.received, 3],
    ['a loss', a?.lossPct, 25],
    ['a min', a?.min, 0.04],
    ['a median', a?.median, 0.05],
    ['b median', b?.median, 40.25],
    ['b max', b?.max, 40.6],
    ['c received', c?.received, 0],
    ['c loss', c?.lossPct, 100],
  ];
  for (const [what, got, want] of table) t.equal(got, want, `${what}: got ${got}; want ${want}`);
  t.ok(Number.isNaN(a?.rtts[2]), 'a lost probe is NaN');
  t.ok(Math.abs((b?.stddev ?? 0) - 0.187083) < 1e-6, `got stddev ${b?.stddev}; want ~0.187083`);
});

t.test('parseFpingC refuses output without the target', async (t) => {
  t.throws(() => parseFpingC('10.1.0.20 : 0.1\n', ['10.1.0.2']), { code: 'TERN_E_LAB_COMMAND' });
});
