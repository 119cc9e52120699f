// Bus abuse benchmark (issue #15): RSS of a real daemon (the runner's
// example daemon) before, during and after 1000 connections each parking an
// unfinished message, against its own idle RSS measured in the same run as
// the baseline. Two attacks: every connection parking 1 MiB - 1 byte (the
// old per-message limit, the attack) and every one parking 48 KiB
// (under the per-request limit, so the parked ones stay until the memory
// cap or the timeout closes them). It reports; it never fails.
import { BusClient } from '../../daemons/lib/bus/index.js';
import { attack, crowd, fmtMiB, parkedLine, rssOf, sleep, startExampleDaemon, waitFor, type AbuseStatus } from '../bus-abuse.js';

const N = Number(process.env.BENCH_ABUSE_N ?? 1000);

const daemon = startExampleDaemon();
try {
  if (!(await daemon.ready)) throw new Error(`bus-abuse bench: the example daemon did not start: ${daemon.stderr().slice(0, 300)}`);
  const client = new BusClient({ socketPath: daemon.socketPath, timeoutMs: 5000 });
  await client.connect();
  const status = (): Promise<AbuseStatus> => client.request<AbuseStatus>('daemon.status');
  const reclaimed = (n: number): Promise<boolean> => waitFor(async () => {
    const s = await status();
    return s.memory === undefined || (s.memory.reclaims >= n && s.bus?.shedding === false);
  });

  // Baseline: the idle daemon once it has reclaimed after a first small
  // spell of shedding (one oversized request), as after every attack.
  const warm = attack(daemon.socketPath, Buffer.concat([parkedLine(70 * 1024), Buffer.from('"}}\n')]));
  await warm.settled;
  warm.socket.destroy();
  await reclaimed(1);
  const idle = rssOf(daemon.pid);
  console.log(`idle daemon (baseline)                  RSS ${fmtMiB(idle).padStart(7)} MiB`);

  let spells = 1;
  for (const [label, bytes] of [['1 MiB - 1 B', 1024 * 1024 - 1], ['48 KiB', 48 * 1024]] as const) {
    const before = rssOf(daemon.pid);
    let peak = before;
    let sampling = true;
    const sampler = (async () => { while (sampling) { peak = Math.max(peak, rssOf(daemon.pid)); await sleep(20); } })();
    const { attackers } = await crowd(daemon.socketPath, N, () => parkedLine(bytes));
    await waitFor(async () => (await status()).bus?.bufferedBytes === 0, 40);
    for (const a of attackers) a.socket.destroy();
    sampling = false;
    await sampler;
    const settled = await reclaimed(++spells);
    const after = rssOf(daemon.pid);
    const s = await status();
    const pct = (x: number): string => `${((x / idle - 1) * 100).toFixed(0).padStart(4)} %`;
    console.log(`${N} × ${label.padEnd(12)} before ${fmtMiB(before).padStart(7)} MiB  peak ${fmtMiB(peak).padStart(7)} MiB (${pct(peak)})  after ${fmtMiB(after).padStart(7)} MiB (${pct(after)})${settled ? '' : '  [did not settle]'}`);
    console.log(`   counters since the daemon started: peak ${s.bus?.peakConnections} connections, peak ${s.bus?.peakBufferedBytes} B held; refused ${s.bus?.refusedConnections}, evicted ${s.bus?.evictedConnections}, too large ${s.bus?.closedTooLarge}, over buffer ${s.bus?.closedOverBuffer}, unfinished ${s.bus?.closedIncomplete}`);
  }
  await client.close();
} finally {
  await daemon.stop();
}
