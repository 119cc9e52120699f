// Issue 16: a message that does not match the contract is refused at the
// boundary with a coded error naming the field (JSON pointer) and what was
// expected: params by the server before the handler, results by the server
// (checkResults) and by the client, payloads by the publisher and by the
// subscriber.
import t, { type Test } from 'tap';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { isTernError } from '../errors.js';
import { defineContract } from '../api/contract.js';
import { Params, Reply } from '../api/schema.js';
import { BusServer } from './server.js';
import { BusClient } from './client.js';
import { tempSocketDir, until } from './testkit.js';

const api = defineContract({
  daemon: 'testd',
  summary: 'a test daemon',
  methods: {
    'rtt.get': { summary: 'x', params: Params({ path: Type.String(), limit: Type.Optional(Type.Integer({ minimum: 1 })) }), result: Reply({ rttMs: Type.Union([Type.Number(), Type.Null()]) }) },
    'rtt.all': { summary: 'x', result: Type.Array(Type.Number()) },
  },
  topics: {
    'rtt.changed': { when: 'x', payload: Reply({ path: Type.String(), rttMs: Type.Number() }) },
  },
});

async function setup(t: Test, checkResults: boolean, answer: { rttMs: unknown } = { rttMs: 5 }) {
  const { dir, cleanup } = tempSocketDir();
  const socketPath = path.join(dir, 'testd.sock');
  const server = new BusServer({ socketPath, group: false, contract: api, checkResults });
  let ran = 0;
  server.method('rtt.get', () => { ran++; return answer; });
  server.method('rtt.all', () => [1, 2]);
  await server.listen();
  const raw = new BusClient({ socketPath, reconnect: false });
  const typed = BusClient.for({ socketPath, reconnect: false, contract: api });
  t.teardown(async () => {
    await raw.close();
    await typed.close();
    await server.close();
    cleanup();
  });
  return { server, raw, typed, ran: () => ran };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> } | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!isTernError(err)) throw err;
    return { code: err.code, message: err.message, details: err.details ?? {} };
  }
}

t.test('the server refuses params that do not match, before the handler runs', async (t) => {
  const b = await setup(t, false);
  const cases: Array<{ name: string; params: Record<string, unknown> | undefined; pointer: string; message: RegExp }> = [
    { name: 'wrong type', params: { path: 7 }, pointer: '/path', message: /^bus: rtt\.get: params: \/path: got 7; want string$/ },
    { name: 'missing key', params: {}, pointer: '/path', message: /\/path: got nothing; want string/ },
    { name: 'unknown key (a typo)', params: { path: 'a', limt: 3 }, pointer: '/limt', message: /\/limt: got 3; want no such key \(known: path, limit\)/ },
    { name: 'out of range', params: { path: 'a', limit: 0 }, pointer: '/limit', message: /\/limit: got 0; want integer/ },
    { name: 'no params at all', params: undefined, pointer: '', message: /\(whole value\): got nothing/ },
  ];
  for (const c of cases) {
    const r = await refusal(b.raw.request('rtt.get', c.params));
    t.equal(r?.code, 'TERN_E_BUS_INVALID_PARAMS', `${c.name}: got ${r?.code}; want TERN_E_BUS_INVALID_PARAMS`);
    t.equal(r?.details.pointer, c.pointer, `${c.name}: got pointer ${String(r?.details.pointer)}; want ${c.pointer}`);
    t.match(r?.message ?? '', c.message, `${c.name}: message`);
  }
  t.equal(b.ran(), 0, `got the handler run ${b.ran()} times; want never for refused params`);
  t.same(await b.raw.request('rtt.get', { path: 'a' }), { rttMs: 5 }, 'matching params reach the handler');
  t.equal(b.ran(), 1);
  const none = await refusal(b.raw.request('rtt.all', { x: 1 }));
  t.equal(none?.code, 'TERN_E_BUS_INVALID_PARAMS', 'a method without params refuses some');
});

t.test('a method or topic outside the contract cannot be served', async (t) => {
  const b = await setup(t, true);
  t.throws(() => (b.server as BusServer).method('rtt.other', () => 1), { code: 'TERN_E_BUS_USAGE' });
  t.throws(() => (b.server as BusServer).publish('rtt.other', {}), { code: 'TERN_E_BUS_USAGE' });
});

t.test('checkResults: a result that does not match is an error, not a reply', async (t) => {
  const b = await setup(t, true, { rttMs: '5' });
  const r = await refusal(b.raw.request('rtt.get', { path: 'a' }));
  t.equal(r?.code, 'TERN_E_BUS_CONTRACT', `got ${r?.code}; want TERN_E_BUS_CONTRACT`);
  t.match(r?.message ?? '', /result of rtt\.get: \/rttMs: got "5"; want number \| null/);
  t.equal(b.server.stats().contractViolations, 1);
  const off = await setup(t, false, { rttMs: '5' });
  t.same(await off.raw.request('rtt.get', { path: 'a' }), { rttMs: '5' }, 'without checkResults the result goes as it is');
});

t.test('the typed client checks params before sending and results on arrival', async (t) => {
  const b = await setup(t, false, { rttMs: '5' });
  const p = await refusal(b.typed.call('rtt.get', { path: 5 as unknown as string }));
  t.equal(p?.code, 'TERN_E_BUS_INVALID_PARAMS');
  t.equal(b.ran(), 0, 'refused before it left');
  const r = await refusal(b.typed.call('rtt.get', { path: 'a' }));
  t.equal(r?.code, 'TERN_E_BUS_CONTRACT', `got ${r?.code}; want TERN_E_BUS_CONTRACT`);
  t.equal(r?.details.pointer, '/rttMs');
  t.same(await b.typed.call('rtt.all'), [1, 2]);
  const u = await refusal(b.typed.call('rtt.nope' as 'rtt.all'));
  t.equal(u?.code, 'TERN_E_BUS_USAGE', 'a method outside the contract is not even asked');
});

t.test('payloads: the publisher (checkResults) and the subscriber refuse a mismatch', async (t) => {
  const b = await setup(t, true);
  const got: unknown[] = [];
  await b.typed.connect();
  await b.typed.subscribeTopic('rtt.changed', (p) => { got.push(p); });
  t.equal(b.server.publish('rtt.changed', { path: 'a', rttMs: 'x' } as never), 0, 'a mismatching payload is not published');
  t.equal(b.server.stats().contractViolations, 1);
  t.equal(b.server.publish('rtt.changed', { path: 'a', rttMs: 4 }), 1);
  await until(() => got.length === 1, 'the good payload arrives');
  t.same(got, [{ path: 'a', rttMs: 4 }]);

  const lax = await setup(t, false);
  const seen: unknown[] = [];
  await lax.typed.connect();
  await lax.typed.subscribeTopic('rtt.changed', (p) => { seen.push(p); });
  lax.server.publish('rtt.changed', { path: 'a', rttMs: 'x' } as never);
  lax.server.publish('rtt.changed', { path: 'b', rttMs: 2 });
  await until(() => seen.length === 1, 'the good payload arrives');
  t.same(seen, [{ path: 'b', rttMs: 2 }], 'the subscriber dropped the one that did not match');
  t.equal(lax.typed.contractViolations, 1);
});
