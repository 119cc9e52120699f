// Capability detection with a fake prober: every branch of the shaping
// choice, failures, and the per-boot cache.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cachePath, chooseShaping, detect, detectCapabilities, features, KernelProber, readCache, type CapabilityProber, type Feature } from './capabilities.js';
import { FakeKernel } from './testkit.js';

/** A prober that has exactly the given features; throwing ones fail with an error. */
function fakeProber(have: Feature[], throwing: Feature[] = []): CapabilityProber & { asked: Feature[]; closed: boolean } {
  const p = {
    asked: [] as Feature[],
    closed: false,
    async probe(f: Feature): Promise<boolean> {
      p.asked.push(f);
      if (throwing.includes(f)) throw new Error(`probe ${f}: EPERM`);
      return have.includes(f);
    },
    async close(): Promise<void> { p.closed = true; },
  };
  return p;
}

t.test('the shaping follows what the kernel has', async (t) => {
  const all: Feature[] = ['ifb', 'htb', 'cake', 'fq_codel', 'bfifo', 'tbf', 'ingress', 'mirred'];
  const cases: Array<{ name: string; have: Feature[]; want: ReturnType<typeof chooseShaping> }> = [
    { name: 'the image kernel: cake', have: all, want: { mode: 'cake', leaf: null, ingress: true } },
    { name: 'no cake: HTB with fq_codel leaves', have: all.filter((f) => f !== 'cake'), want: { mode: 'htb', leaf: 'fq_codel', ingress: true } },
    { name: 'this sandbox: HTB with FIFO leaves', have: ['ifb', 'htb', 'bfifo', 'tbf', 'ingress', 'mirred'], want: { mode: 'htb', leaf: 'bfifo', ingress: true } },
    { name: 'no IFB: egress only', have: ['htb', 'bfifo'], want: { mode: 'htb', leaf: 'bfifo', ingress: false } },
    { name: 'no mirred: egress only', have: ['ifb', 'htb', 'bfifo', 'ingress'], want: { mode: 'htb', leaf: 'bfifo', ingress: false } },
    { name: 'nothing to shape with', have: ['ifb', 'tbf', 'ingress', 'mirred'], want: { mode: null, leaf: null, ingress: false } },
  ];
  for (const c of cases) {
    const prober = fakeProber(c.have);
    const caps = await detectCapabilities(prober);
    t.same(features.filter((f) => caps[f]), features.filter((f) => c.have.includes(f)), `${c.name}: capabilities`);
    t.same(chooseShaping(caps), c.want, `${c.name}: got ${JSON.stringify(chooseShaping(caps))}; want ${JSON.stringify(c.want)}`);
    t.same(prober.asked, [...features], `${c.name}: every feature asked, IFB first`);
    t.ok(prober.closed, `${c.name}: the prober is closed`);
  }
});

t.test('a probe that throws counts as absent and the prober is still closed', async (t) => {
  const prober = fakeProber(['ifb', 'htb', 'bfifo'], ['htb']);
  const caps = await detectCapabilities(prober);
  t.equal(caps.htb, false);
  t.equal(caps.bfifo, true);
  t.ok(prober.closed);
});

t.test('the kernel prober tries each qdisc on a scratch IFB and removes it', async (t) => {
  const k = new FakeKernel([{ name: 'lo' }]);
  const caps = await detectCapabilities(new KernelProber(k, k));
  t.ok(caps.ifb && caps.htb && caps.bfifo && caps.ingress && caps.mirred, `got ${JSON.stringify(caps)}`);
  t.same((await k.links()).map((l) => l.name), ['lo'], 'the scratch IFB is gone');
  t.ok(k.ops.some((o) => /^addLink tqp-[0-9a-f]{6} ifb$/.test(o)), 'it was a tqp-* IFB');
});

t.test('detection is cached for the boot; refresh probes again', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qosd-caps-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = fakeProber(['ifb', 'htb', 'bfifo']);
  const a = await detect({ runDir: dir, prober: () => first, now: 1000 });
  t.match(a, { cached: false, choice: { mode: 'htb', leaf: 'bfifo' }, kernel: os.release(), detectedAt: 1000 });
  const second = fakeProber(['ifb', 'cake']);
  const b = await detect({ runDir: dir, prober: () => second, now: 2000 });
  t.match(b, { cached: true, choice: { mode: 'htb' }, detectedAt: 1000 });
  t.same(second.asked, [], 'the cache answered');
  const c = await detect({ runDir: dir, prober: () => second, now: 3000, refresh: true });
  t.match(c, { cached: false, choice: { mode: 'cake' } });
  // Another boot's (or kernel's) cache is not trusted.
  const file = cachePath(dir);
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), bootId: 'another-boot' }));
  t.equal(readCache(file), undefined);
  fs.writeFileSync(file, '{not json');
  t.equal(readCache(file), undefined);
});
