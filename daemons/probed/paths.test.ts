import t from 'tap';
import { FakeClock } from '../lib/clock/index.js';
import type { PathProbeSettings } from './monitor.js';
import { PathProber, phaseOffsetMs, type PathInfo } from './paths.js';
import type { PathSocket, PathSocketFactory } from './transport.js';

const settings: PathProbeSettings = { pathRatePerSec: 5, windowSec: 10, downAfter: 3, upAfter: 10, degraded: { lossPct: 5, latencyMs: 250, jitterMs: 50 } };

/** 500 path ids named as in a 250-site overlay with two WANs a side (test/bench/probed.bench.ts). */
const benchPaths = Array.from({ length: 250 }, (_, i) => [`wa/s${i + 2}/a`, `wa/s${i + 2}/b`]).flat();

t.test('phaseOffsetMs: stable, inside the interval', async (t) => {
  const cases: Array<[string, number]> = [['inet/office/isp-a', 200], ['inet/office/isp-b', 200], ['wa/s2/a', 50], ['x/y/z', 1000], ['a/b/c', 0.5]];
  for (const [path, interval] of cases) {
    const got = phaseOffsetMs(path, interval);
    t.ok(got >= 0 && got < interval, `${path} over ${interval} ms: got ${got}; want within [0, ${interval})`);
    t.equal(phaseOffsetMs(path, interval), got, `${path}: got a different offset the second time; want the same`);
  }
  t.not(phaseOffsetMs('inet/office/isp-a', 200), phaseOffsetMs('inet/office/isp-b', 200), 'two paths of one site get different places');
});

t.test('phaseOffsetMs: 500 paths spread over the interval, not bunched', async (t) => {
  // Regression: all paths started in the same millisecond and probed in one
  // burst per round; the burst's length read as RTT and jitter (probed.bench).
  const slots = new Array<number>(10).fill(0);
  for (const p of benchPaths) slots[Math.floor(phaseOffsetMs(p, 200) / 20)]!++;
  for (const [i, n] of slots.entries()) t.ok(n >= 25 && n <= 75, `slot ${i} (${i * 20}-${i * 20 + 20} ms) holds ${n} of 500 paths; want about 50 (25-75)`);
  const distinct = new Set(benchPaths.map((p) => Math.floor(phaseOffsetMs(p, 200)))).size;
  t.ok(distinct >= 150, `got ${distinct} distinct ms of 200 in use; want the paths spread (>= 150)`);
});

/** Sockets that open when the test says so and record when each path sent. */
function fakeSockets(clock: FakeClock): { factory: PathSocketFactory; open: Map<string, () => void>; sends: Array<{ path: string; at: number }> } {
  const open = new Map<string, () => void>();
  const sends: Array<{ path: string; at: number }> = [];
  const factory: PathSocketFactory = (ends, _port, _onMessage, onOpen) => {
    open.set(ends.name, () => onOpen?.());
    const s: PathSocket = {
      send: () => { sends.push({ path: ends.name, at: clock.monotonic() }); },
      close: () => undefined,
      counters: () => ({ opens: 1, openErrors: 0, sendErrors: 0, received: 0, port: 1 }),
    };
    return s;
  };
  return { factory, open, sends };
}

const info = (name: string): PathInfo => {
  const [localWan, site, remoteWan] = name.split('/') as [string, string, string];
  return { name, site, localWan, remoteWan, ifname: `tn-${site}`, localAddress: 'fe80::1:0', remoteAddress: 'fe80::2:0' };
};

t.test('paths whose sockets open together start probing at their own places in the interval', async (t) => {
  const clock = new FakeClock({ monotonic: 0 });
  const { factory, open, sends } = fakeSockets(clock);
  const prober = new PathProber({ port: 862, sockets: factory, settingsFor: () => settings, clock });
  const names = benchPaths.slice(0, 20);
  prober.setPaths(names.map(info));
  for (const n of names) open.get(n)!();
  clock.advance(1000);
  for (const n of names) {
    const first = sends.find((s) => s.path === n)?.at;
    const want = phaseOffsetMs(n, 200);
    t.ok(first !== undefined && first >= want && first < want + 1, `${n}: first probe at ${first} ms; want at its offset ${want.toFixed(2)} ms`);
    const count = sends.filter((s) => s.path === n).length;
    t.ok(count >= 4 && count <= 5, `${n}: got ${count} probes in the first second; want 5 at 5/s (4 when its offset is late in the interval)`);
  }
  const firstMs = new Set(names.map((n) => Math.floor(sends.find((s) => s.path === n)!.at)));
  t.ok(firstMs.size >= 15, `got first probes in ${firstMs.size} distinct ms for 20 paths; want them spread, not one burst`);
  prober.stop();
  t.equal(clock.pending(), 0, 'stop clears every timer');
});

t.test('a path dropped while waiting for its place never starts; the grace start also waits for it', async (t) => {
  const clock = new FakeClock({ monotonic: 0 });
  const { factory, open, sends } = fakeSockets(clock);
  const prober = new PathProber({ port: 862, sockets: factory, settingsFor: () => settings, clock, startGraceMs: 100 });
  // Offsets chosen so the test means something: both must wait a while.
  const [a, b] = benchPaths.filter((p) => phaseOffsetMs(p, 200) > 20).slice(0, 2) as [string, string];
  prober.setPaths([info(a), info(b)]);
  open.get(a)!();
  prober.setPaths([info(b)]);
  clock.advance(100);
  t.equal(sends.filter((s) => s.path === b).length, 0, 'b: no probe the moment the grace ends');
  clock.advance(400);
  t.equal(sends.filter((s) => s.path === a).length, 0, `a: got ${sends.filter((s) => s.path === a).length} probes after it was dropped; want none`);
  const firstB = sends.find((s) => s.path === b)?.at;
  const want = 100 + phaseOffsetMs(b, 200);
  t.ok(firstB !== undefined && Math.abs(firstB - want) < 1, `b (socket never opened): first probe at ${firstB} ms; want grace + offset = ${want.toFixed(2)} ms`);
  prober.stop();
  t.equal(clock.pending(), 0, 'stop clears every timer');
});
