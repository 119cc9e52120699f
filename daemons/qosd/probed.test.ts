// The wan.metrics interface qosd consumes: what a valid fact is, and the
// subscription over a real bus socket (bad facts dropped, good ones kept).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BusServer } from '../lib/bus/index.js';
import { silentLogger } from '../lib/log/index.js';
import { ProbedFeed, parseWanMetrics, type WanMetrics } from './probed.js';

const good = { wan: 'ispa', rttLatestMs: 12.5, lossPct: 0, jitterMs: 0.4, ts: 1_700_000_000_000 };

t.test('valid facts parse; bad ones fail naming the field', async (t) => {
  t.same(parseWanMetrics(good), good);
  t.same(parseWanMetrics({ ...good, rttBaselineMs: 10, extra: 1 }), { ...good, rttBaselineMs: 10 }, 'unknown fields are dropped');
  t.same(parseWanMetrics({ ...good, rttLatestMs: null, lossPct: null, jitterMs: null, rttBaselineMs: null }), { ...good, rttLatestMs: null, lossPct: null, jitterMs: null },
    'null figures (no probe answered yet) are facts, not errors');
  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'ispa 12', /got "ispa 12"; want an object/],
    ['array', [good], /want an object/],
    ['no wan', { ...good, wan: undefined }, /wan: got undefined; want a WAN name/],
    ['bad wan', { ...good, wan: 'ISP A' }, /wan: got "ISP A"/],
    ['negative rtt', { ...good, rttLatestMs: -1 }, /rttLatestMs: got -1/],
    ['rtt as text', { ...good, rttLatestMs: '12' }, /rttLatestMs: got "12"/],
    ['NaN jitter', { ...good, jitterMs: NaN }, /jitterMs: got NaN; want a number of ms, 0-60000, or null/],
    ['no rtt', { ...good, rttLatestMs: undefined }, /rttLatestMs: got undefined/],
    ['loss above 100', { ...good, lossPct: 120 }, /lossPct: got 120/],
    ['bad baseline', { ...good, rttBaselineMs: 'low' }, /rttBaselineMs: got "low"/],
    ['no ts', { ...good, ts: undefined }, /ts: got undefined/],
  ];
  for (const [name, p, want] of bad) {
    t.throws(() => parseWanMetrics(p), { code: 'TERN_E_QOS_INPUT', message: want }, name);
  }
});

t.test('the feed subscribes to probed\'s socket and hands on only valid facts', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qosd-feed-'));
  const sock = path.join(dir, 'probed.sock');
  const server = new BusServer({ socketPath: sock, group: false });
  await server.listen();
  const got: WanMetrics[] = [];
  const feed = new ProbedFeed({ socketPath: sock, onMetrics: (m) => got.push(m), logger: silentLogger() });
  t.teardown(async () => {
    await feed.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await feed.start();
  for (let i = 0; i < 100 && server.stats().subscribers === 0; i++) await new Promise((r) => setTimeout(r, 20));
  server.publish('wan.metrics', good);
  server.publish('wan.metrics', { ...good, rttLatestMs: 'fast' });
  server.publish('wan.metrics', { ...good, rttLatestMs: 40, ts: good.ts + 100 });
  for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(got.map((m) => m.rttLatestMs), [12.5, 40]);
  t.equal(feed.rejectedCount, 1);
  t.ok(feed.connected);
});
