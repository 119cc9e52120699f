// The contracts' checkers: a value that does not match is described by the
// JSON pointer of the first offending field and the type expected there.
import t from 'tap';
import { Type } from '@sinclair/typebox';
import { isTernError } from '../errors.js';
import { checkParams, checker, defineContract, typeText } from './contract.js';
import { allContracts, probedApi, servedContract } from './index.js';
import { Params } from './schema.js';

const metrics = {
  path: 'wan0/home/wan0', site: 'home', localWan: 'wan0', remoteWan: 'wan0', state: 'up', ts: 1, ratePerSec: 5, windowSec: 10,
  probes: 50, answered: 50, lost: 0, lostFwd: 0, lostRev: 0, lostUnknown: 0, lossPct: 0, lossFwdPct: 0, lossRevPct: 0,
  rttMs: 20, rttMinMs: 19, rttMaxMs: 21, rttStddevMs: 0.5, jitterMs: 0.3, mos: 4.4,
};

t.test('path.metrics: mismatches name the field and the type wanted', async (t) => {
  const c = probedApi.topics['path.metrics'].payload;
  const cases: Array<{ name: string; value: unknown; pointer?: string; expected?: RegExp }> = [
    { name: 'the payload probed sends', value: metrics },
    { name: 'extra fields are allowed', value: { ...metrics, counters: {} } },
    { name: 'rtt as a string', value: { ...metrics, rttMs: '20' }, pointer: '/rttMs', expected: /number \| null/ },
    { name: 'a verdict that is not one', value: { ...metrics, state: 'sideways' }, pointer: '/state', expected: /"up"/ },
    { name: 'path missing', value: { ...metrics, path: undefined }, pointer: '/path', expected: /string/ },
    { name: 'negative count', value: { ...metrics, lost: -1 }, pointer: '/lost', expected: /integer/ },
    { name: 'not an object', value: 'up', pointer: '', expected: /path/ },
  ];
  for (const c0 of cases) {
    const m = c.mismatch(c0.value);
    if (!c0.pointer && c0.pointer !== '') {
      t.equal(m, undefined, `${c0.name}: got ${JSON.stringify(m)}; want a match`);
      continue;
    }
    t.equal(m?.pointer, c0.pointer, `${c0.name}: got pointer ${m?.pointer}; want ${c0.pointer}`);
    t.match(m?.expected ?? '', c0.expected!, `${c0.name}: got expected ${m?.expected}`);
  }
});

t.test('checkParams: closed params, none for a method without params', async (t) => {
  const c = defineContract({
    daemon: 'test', summary: 'x',
    methods: {
      'a.get': { summary: 'x', params: Params({ name: Type.String() }), result: Type.Null() },
      'a.all': { summary: 'x', result: Type.Null() },
    },
    topics: {},
  });
  t.same(checkParams(c.methods['a.get'], { name: 'x' }), { name: 'x' });
  t.equal(checkParams(c.methods['a.all'], undefined), undefined);
  t.equal(checkParams(c.methods['a.all'], {}), undefined, 'an empty object is no params');
  const bad: Array<[string, unknown, RegExp]> = [
    ['a.get', { name: 5 }, /^bus: a\.get: params: \/name: got 5; want string$/],
    ['a.get', { name: 'x', nmae: 'y' }, /^bus: a\.get: params: \/nmae: got "y"; want/],
    ['a.get', undefined, /^bus: a\.get: params: \(whole value\): got nothing; want \{name: string\}$/],
    ['a.all', { x: 1 }, /^bus: a\.all: params: \(whole value\): got \{"x":1\}; want no params$/],
  ];
  for (const [method, params, want] of bad) {
    try {
      checkParams(c.methods[method as 'a.get'], params);
      t.fail(`${method} ${JSON.stringify(params)}: got accepted; want refused`);
    } catch (err) {
      t.ok(isTernError(err, 'TERN_E_BUS_INVALID_PARAMS'), `got ${String(err)}; want TERN_E_BUS_INVALID_PARAMS`);
      t.match((err as Error).message, want);
      t.ok(typeof (err as { details?: { pointer?: unknown } }).details?.pointer === 'string', 'details carry the pointer');
    }
  }
});

t.test('every contract compiles; no method or topic is declared twice on one socket', async (t) => {
  for (const d of ['tunneld', 'probed', 'steerd', 'paird', 'qosd', 'edged']) t.ok(servedContract(d), `${d}: got no contract; want one`);
  t.equal(servedContract('example'), undefined, 'a daemon without a contract gets none');
  t.equal(allContracts.length, 7, 'the runner contract and six daemon contracts');
});

t.test('typeText writes schemas as types', async (t) => {
  t.equal(typeText(Type.Union([Type.Number(), Type.Null()])), 'number | null');
  t.equal(typeText(Type.Array(Type.Union([Type.String(), Type.Null()]))), '(string | null)[]');
  t.equal(typeText(Params({ a: Type.Optional(Type.Integer()) })), '{a?: integer}');
  t.equal(typeText(Type.Object({ a: Type.Literal('x') })), '{a: "x", ...}');
  t.equal(checker(Type.Object({ a: Type.String({ title: 'Name' }) })).mismatch({ a: 1 })?.expected, 'string', 'the top of a mismatch is spelt out');
});
