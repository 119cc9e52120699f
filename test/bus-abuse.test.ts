// Regression test for issue #15, bus abuse: each connection could park
// 1 MiB of an unfinished line, with no cap on connections and no timeout;
// ~600 parked connections grew tern-probed from 132 to 693 MiB RSS, and it
// stayed there after they closed.
//
// A real daemon process (the runner's example daemon: the real runner, the
// real BusServer on a real socket, as every tern-* daemon opens it) takes
// 1000 connections at once, half parking 1 MiB - 1 byte (the old limit),
// half 48 KiB (under the per-request limit, so they stay parked until the
// memory cap, the timeout or a newcomer closes them). A BusClient with
// reconnect keeps calling the daemon throughout. Checked: connections
// accepted at once and memory held for unfinished messages stay under
// their caps (the daemon's own counters in daemon.status), the legitimate
// clients keep working, and RSS after the attackers closed is within 10 %
// of RSS before.
//
// RSS is read from /proc/<pid>/status. Before and after are both taken once
// the daemon has reclaimed memory after a spell of shedding (it does so by
// itself: a full collection and malloc_trim), so they compare like with
// like; a warm-up with one oversized request gives the first spell. Every
// wait is on a state (the daemon's counters, the attackers' sockets), with
// a bounded number of polls. Figures are printed as TAP comments.
import t from 'tap';
import { BusClient } from '../daemons/lib/bus/index.js';
import { crowd, fmtMiB as fmt, parkedLine, attack, rssOf, sleep, startExampleDaemon, waitFor, type AbuseStatus as Status } from './bus-abuse.js';

const attackers = 1000;
const bigPark = 1024 * 1024 - 1;
const smallPark = 48 * 1024;
const maxConnections = 64;
const maxBufferedBytes = 1024 * 1024;

t.test('1000 connections parking unfinished messages: capped, legitimate clients served, RSS back within 10 %', async (t) => {
  const daemon = startExampleDaemon();
  t.teardown(() => daemon.stop());
  const { pid, socketPath } = daemon;
  t.ok(await daemon.ready, `the daemon got ready (stderr: ${daemon.stderr().slice(0, 300)})`);

  const legit = new BusClient({ socketPath, timeoutMs: 5000 });
  t.teardown(() => legit.close());
  await legit.connect();
  const status = (): Promise<Status> => legit.request<Status>('daemon.status');
  t.same(await legit.request('example.echo', { n: 0 }), { n: 0 }, 'the legitimate client is served before');

  // Warm-up: one oversized request is a spell of shedding; the reclaim
  // after it settles the daemon's memory, so before and after compare alike.
  const warm = attack(socketPath, Buffer.concat([parkedLine(70 * 1024), Buffer.from('"}}\n')]));
  await warm.settled;
  warm.socket.destroy();
  await waitFor(async () => { const m = (await status()).memory; return m === undefined || m.reclaims >= 1; });
  const before = rssOf(pid);

  // The attack, with the legitimate client calling all along and RSS sampled.
  let peak = before;
  let sampling = true;
  const sampler = (async () => { while (sampling) { peak = Math.max(peak, rssOf(pid)); await sleep(20); } })();
  let calls = 0;
  let failed = 0;
  let calling = true;
  const caller = (async () => {
    while (calling) {
      try { await legit.request('example.echo', { n: ++calls }); } catch { failed++; await sleep(50); }
    }
  })();
  const { attackers: crowded, settled } = await crowd(socketPath, attackers, (i) => parkedLine(i % 2 === 0 ? bigPark : smallPark));
  t.ok(settled, `want every one of ${attackers} attackers connected and written, or refused, or closed`);
  const during = await status();

  // A newcomer gets in while the attackers still hold their connections.
  const newcomer = new BusClient({ socketPath, timeoutMs: 5000, reconnect: false });
  let newcomerOk = false;
  for (let i = 0; i < 20 && !newcomerOk; i++) {
    try { await newcomer.request('rpc.ping'); newcomerOk = true; } catch { await sleep(100); }
  }
  await newcomer.close();
  // The parked ones are closed by the daemon when their time is up, while
  // the legitimate client goes on calling.
  const timedOut = await waitFor(async () => { const b = (await status()).bus; return b === undefined || b.bufferedBytes === 0; });
  calling = false;
  await caller;

  for (const a of crowded) a.socket.destroy();
  sampling = false;
  await sampler;
  const settledDown = await waitFor(async () => {
    const s = await status();
    return (s.bus === undefined || (s.bus.connections === 1 && !s.bus.shedding)) && (s.memory === undefined || s.memory.reclaims >= 2);
  });
  let after = rssOf(pid);
  await waitFor(() => (after = rssOf(pid)) <= before * 1.1, 20);
  const end = await status();

  const told = new Map<string, number>();
  for (const a of crowded) if (a.toldWhy) told.set(a.toldWhy, (told.get(a.toldWhy) ?? 0) + 1);
  t.comment(`bus abuse: ${attackers} connections (half ${bigPark + 1} B, half ${smallPark} B unfinished): RSS before ${fmt(before)} MiB, during (peak) ${fmt(peak)} MiB, after ${fmt(after)} MiB (${((after / before - 1) * 100).toFixed(1)} %)`);
  t.comment(`bus abuse: connected ${crowded.filter((a) => a.connected).length}, told ${JSON.stringify(Object.fromEntries(told))}; daemon counters ${JSON.stringify(end.bus ?? 'none')}`);
  t.comment(`bus abuse: legitimate client: ${calls - failed} of ${calls} calls answered during the attack`);

  t.ok(settledDown, 'the daemon is back to its one legitimate connection, not shedding, and reclaimed memory');
  t.ok(after <= before * 1.1, `got RSS after ${fmt(after)} MiB; want within 10 % of ${fmt(before)} MiB before (peak ${fmt(peak)} MiB)`);
  t.ok(during.bus !== undefined, 'daemon.status reports the bus counters');
  const peakConnections = end.bus?.peakConnections ?? Number.NaN;
  const peakBuffered = end.bus?.peakBufferedBytes ?? Number.NaN;
  t.ok(peakConnections <= maxConnections, `got at most ${peakConnections} connections at once; want at most ${maxConnections}`);
  t.ok(peakBuffered <= maxBufferedBytes, `got at most ${peakBuffered} bytes held for unfinished messages; want at most ${maxBufferedBytes}`);
  t.ok((told.get('TERN_E_BUS_BUSY') ?? 0) > 0, `got ${told.get('TERN_E_BUS_BUSY') ?? 0} attackers told TERN_E_BUS_BUSY; want the ones over the limits told why`);
  t.ok(calls - failed > 0, `got ${calls - failed} of ${calls} calls answered during the attack; want the legitimate client served`);
  t.ok(newcomerOk, 'a new client connecting during the attack is served');
  t.ok(timedOut && (end.bus?.closedIncomplete ?? 0) > 0, `got ${end.bus?.closedIncomplete} connections closed for an unfinished message; want the parked ones closed by the daemon`);
  t.same(await legit.request('example.echo', { n: 'after' }), { n: 'after' }, 'the legitimate client is served after');
  t.equal(end.warnings.some((w) => w.name === 'bus.shedding'), false, 'the bus.shedding warning is cleared after');
});
