// Failover benchmark: pings lost by an office LAN host while the PAIR's
// master fails, tern-paird against keepalived 2.2.7 with identical timers
// (priorities 150/100, 100 ms adverts), measured in the same run, rounds
// interleaved so load drifts hit both alike. Two failures: kill -9 of the
// master's daemon, and the master's LAN link cut at the switch. Two streams
// from officehost, every 10 ms: to homehost over the overlay through the
// VIP, and to the VIP itself (the design's reference measurement). It
// reports; it never fails on time.
import os from 'node:os';
import { PairLab, describeHits, officeBoxes, parseStream, remoteHost, vip, type OfficeBox, type Outage, type Takeover } from '../paird-lab.js';
import { patience, sleep, waitFor } from '../lab/wait.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
type Impl = 'tern' | 'keepalived';
type Failure = 'kill -9' | 'LAN cut';
const impls: Impl[] = ['tern', 'keepalived'];
const failures: Failure[] = ['kill -9', 'LAN cut'];
const priorities: Record<OfficeBox, number> = { office1: 150, office2: 100 };

const p = await PairLab.up();
const { lab } = p;

async function start(impl: Impl): Promise<void> {
  await p.reset();
  for (const n of officeBoxes) {
    if (impl === 'tern') {
      p.setPair(n, { priority: priorities[n] });
      await p.startPaird(n);
    } else {
      p.startKeepalived(n, { priority: priorities[n] });
    }
  }
  await p.settledHolders(['office1']);
  await p.remoteReachable();
}

interface Round { remote: Outage; vip: Outage; holders: string; failedAt: number; takeover: Takeover }

/** One failure while both streams run. */
async function once(impl: Impl, failure: Failure): Promise<Round> {
  await start(impl);
  const watch = p.watchTakeover(`${impl}-${failure.replace(/\W+/g, '')}-${Date.now()}`);
  const count = 600;
  const stream = (target: string) => lab.exec('officehost', ['fping', '-D', '-c', String(count), '-p', '10', '-t', '1000', target], { timeoutMs: count * 10 + 60_000 });
  const streams = [stream(remoteHost), stream(vip)];
  await sleep(1500);
  const failedAt = Date.now();
  if (failure === 'kill -9') {
    if (impl === 'tern') await p.stopPaird('office1', 'SIGKILL');
    else await p.stopKeepalived('office1', 'SIGKILL');
  } else {
    await lab.impair('officelan:office1').linkDown();
  }
  const [remote, toVip] = await Promise.all(streams);
  await waitFor('office2 holding the VIP', async () => (await p.vipHolders()).includes('office2'), patience(1000));
  const holders = (await p.vipHolders()).join('+');
  const takeover = await watch.stop();
  if (failure === 'LAN cut') await lab.impair('officelan:office1').linkUp();
  return { remote: parseStream(remote!.stdout, count), vip: parseStream(toVip!.stdout, count), holders, failedAt, takeover };
}

const results = new Map<string, Round[]>();
await p.stickyReturn();
try {
  for (let r = 0; r < rounds; r++) {
    for (const failure of failures) {
      for (const impl of (r % 2 === 0 ? impls : [...impls].reverse())) {
        const key = `${impl}|${failure}`;
        const got = await once(impl, failure);
        results.set(key, [...(results.get(key) ?? []), got]);
        console.log(`round ${r + 1}: ${impl.padEnd(10)} ${failure.padEnd(8)} homehost: lost ${got.remote.lost} + late ${got.remote.late}, gap ${got.remote.gapMs} ms; VIP: lost ${got.vip.lost} + late ${got.vip.late}, gap ${got.vip.gapMs} ms; VIP then on ${got.holders}`);
        // Which pings, and when relative to the failure: a failover hits a run starting near 0;
        // hits far from it are the machine's (the overlay runs in userspace wireguard-go).
        console.log(`         hits, homehost: ${describeHits(got.remote, got.failedAt)}; VIP: ${describeHits(got.vip, got.failedAt)}`);
        console.log(`         on office2's LAN link: ${got.takeover.silenceMs.toFixed(1)} ms without adverts, first advert to gratuitous ARP ${got.takeover.advertToGarpMs.toFixed(1)} ms`);
      }
    }
  }
} finally {
  await p.reset().catch(() => undefined);
  await p.down();
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
console.log('');
console.log(`${rounds} rounds each; median [min-max] of pings hit (lost or answered > 50 ms late; sent every 10 ms) and of the longest gap between replies`);
for (const failure of failures) {
  for (const stream of ['remote', 'vip'] as const) {
    const m: Partial<Record<Impl, { lost: number; gap: number }>> = {};
    const what = stream === 'remote' ? 'officehost -> homehost via VIP' : 'officehost -> VIP';
    for (const impl of impls) {
      const xs = (results.get(`${impl}|${failure}`) ?? []).map((x) => x[stream]);
      // Hit: lost, or answered late from the ARP queue once the new master announced itself.
      const lost = xs.map((x) => x.lost + x.late);
      const gap = xs.map((x) => x.gapMs);
      m[impl] = { lost: median(lost), gap: median(gap) };
      console.log(`${failure.padEnd(8)} ${what.padEnd(32)} ${impl.padEnd(10)} hit ${String(m[impl]!.lost).padStart(4)} [${Math.min(...lost)}-${Math.max(...lost)}]  gap ${String(m[impl]!.gap).padStart(4)} ms [${Math.min(...gap)}-${Math.max(...gap)}]`);
    }
    const ratio = (a: number, b: number): string => (b > 0 ? (a / b).toFixed(2) : a === 0 ? '1.00 (both 0)' : 'n/a');
    console.log(`${''.padEnd(42)} tern / keepalived: hit ${ratio(m.tern!.lost, m.keepalived!.lost)}, gap ${ratio(m.tern!.gap, m.keepalived!.gap)}`);
  }
}
// The takeover itself, measured on the wire: it bounds the hits of both
// streams (a LAN cut loses everything until the gratuitous ARP).
for (const failure of failures) {
  const m: Partial<Record<Impl, { silence: number; garp: number }>> = {};
  for (const impl of impls) {
    const xs = (results.get(`${impl}|${failure}`) ?? []).map((x) => x.takeover);
    m[impl] = { silence: median(xs.map((x) => x.silenceMs)), garp: median(xs.map((x) => x.advertToGarpMs)) };
    console.log(`${failure.padEnd(8)} takeover on the wire              ${impl.padEnd(10)} silence ${m[impl]!.silence.toFixed(1).padStart(6)} ms  first advert -> GARP ${m[impl]!.garp.toFixed(1).padStart(5)} ms`);
  }
  console.log(`${''.padEnd(42)} tern - keepalived: silence ${(m.tern!.silence - m.keepalived!.silence).toFixed(1)} ms, advert -> GARP ${(m.tern!.garp - m.keepalived!.garp).toFixed(1)} ms`);
}
console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
const holders = [...results.entries()].filter(([k]) => k.endsWith('kill -9')).map(([k, v]) => `${k.split('|')[0]}: ${v.map((x) => x.holders).join(', ')}`);
console.log(`VIP holders right after kill -9 of the master's daemon: ${holders.join('; ')}`);
