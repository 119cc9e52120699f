// Failover benchmark: pings lost by an office LAN host while the PAIR's
// master fails, tern-paird against keepalived 2.2.7 with identical timers
// (priorities 150/100, 100 ms adverts), measured in the same run, rounds
// interleaved so load drifts hit both alike. Two failures: kill -9 of the
// master's daemon, and the master's LAN link cut at the switch. Two streams
// from officehost, every 10 ms: to homehost over the overlay through the
// VIP, and to the VIP itself (the design's reference measurement). It
// reports; it never fails on time.
import { PairLab, officeBoxes, parseStream, remoteHost, sleep, vip, waitFor, type OfficeBox, type Outage } from '../paird-lab.js';

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

interface Round { remote: Outage; vip: Outage; holders: string }

/** One failure while both streams run. */
async function once(impl: Impl, failure: Failure): Promise<Round> {
  await start(impl);
  const count = 600;
  const stream = (target: string) => lab.exec('officehost', ['fping', '-D', '-c', String(count), '-p', '10', '-t', '1000', target], { timeoutMs: count * 10 + 60_000 });
  const streams = [stream(remoteHost), stream(vip)];
  await sleep(1500);
  if (failure === 'kill -9') {
    if (impl === 'tern') await p.stopPaird('office1', 'SIGKILL');
    else await p.stopKeepalived('office1', 'SIGKILL');
  } else {
    await lab.impair('officelan:office1').linkDown();
  }
  const [remote, toVip] = await Promise.all(streams);
  await waitFor('office2 holding the VIP', async () => ((await p.vipHolders()).includes('office2') ? true : undefined));
  const holders = (await p.vipHolders()).join('+');
  if (failure === 'LAN cut') await lab.impair('officelan:office1').linkUp();
  return { remote: parseStream(remote!.stdout, count), vip: parseStream(toVip!.stdout, count), holders };
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
const holders = [...results.entries()].filter(([k]) => k.endsWith('kill -9')).map(([k, v]) => `${k.split('|')[0]}: ${v.map((x) => x.holders).join(', ')}`);
console.log(`VIP holders right after kill -9 of the master's daemon: ${holders.join('; ')}`);
