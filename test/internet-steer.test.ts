// Lab test of internet breakout steering (issue #17): home1 with two WANs
// (ispa, and ispd: LTE, metered in phase B), the lab's internet servers, the
// real tunneld (WAN tables), probed (WAN verdicts from a target on the
// internet), steerd (NFQUEUE, conntrack marks, ctClear) and edged (the zone
// firewall and NAT per WAN: masquerade out of both WANs, and the reset of a
// new TCP segment without SYN towards a WAN that ends a cleared flow). Every claim is
// read at the far end: saas1/saas2/inet's HTTP echo answers the source
// address it saw, which is the WAN's address (198.18.1.6 ispa, 198.18.4.2
// ispd).
//
// The domain class learns saas2.example.test's address from homehost's
// lookup through the box's own DNS forwarder (edged's dnsmasq, nftset=),
// whose upstream is the lab's authoritative server dns1.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { Lab, dnsQuery, defaultTopology, httpBurst, repoRoot, serverWith, startInternet } from './lab/index.js';
import { busCall, patience, waitFor } from './lab/wait.js';

const box = 'home1';
const host = 'homehost';
const ispaAddr = '198.18.1.6';
const ispdAddr = '198.18.4.2';
/** home1's LAN address: its DNS forwarder. */
const boxLan = '10.2.0.1';
const daemons = ['tunneld', 'probed', 'steerd', 'edged'];

interface PathRow { name: string; site: string; wan: string; state: string; holdSec?: number; probe: { state: string } | null }
interface ClearRow { wan: string; reason: string; deleted: number; provoked: number; tcp: number; chosen?: number; error: string | null }
interface InternetView {
  enabled: boolean;
  paths: Array<{ name: string; wan: string; state: string; holdSec: number; flows: number; natFlows: number; classes: Record<string, { flows: number; bytes: number }> }>;
  classes: Array<{ name: string; wans: Record<string, { flows: number; bytes: number }> }>;
  clears: ClearRow[];
}

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-isteer-'));
const lab = await Lab.up(defaultTopology(), { runDir });
t.teardown(async () => {
  await lab.down();
  // A failed run keeps its daemons' logs (<runDir>/logs) for the reader.
  if (t.passing()) fs.rmSync(runDir, { recursive: true, force: true });
  else t.comment(`logs kept in ${runDir}/logs`);
});
const internet = await startInternet(lab);
const server = (node: string): string => internet.servers.find((s) => s.node === node)!.address;
const inet = server('inet');
const saas1 = server('saas1');
const saas2 = server('saas2');

const sock = (daemon: string): string => path.join(lab.applianceEnv(box).TERN_RUN_DIR!, `${daemon}.sock`);
const call = <T>(daemon: string, method: string, params?: Record<string, unknown>): Promise<T> => busCall<T>(sock(daemon), method, params);
const internetPaths = async (): Promise<Record<string, PathRow>> =>
  Object.fromEntries((await call<PathRow[]>('steerd', 'steer.paths')).filter((p) => p.site === 'internet').map((p) => [p.wan, p]));
const view = (): Promise<InternetView> => call<InternetView>('steerd', 'steer.internet');

// Replies from the internet arrive by the WAN the flow left by, which is not
// always main's default route: reverse-path filtering must be loose, as the
// image's systemd sets it (50-default.conf: rp_filter=2); the lab's
// namespaces inherit whatever this machine has.
await lab.mustExec(box, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=2', 'net.ipv4.conf.default.rp_filter=2', 'net.ipv4.conf.wan0.rp_filter=2', 'net.ipv4.conf.wan1.rp_filter=2']);

/** home1's tern.yaml from the lab's, with this test's WANs, probing, internet and steering. */
function writeConfig(phase: 'A' | 'B'): void {
  const file = lab.writeApplianceConfig(box);
  const cfg = parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;
  cfg.wans[1].metered = phase === 'B';
  // WAN health from a target on the internet, at the default rate.
  cfg.probes = { pathRatePerSec: 5, wanTargets: [inet] };
  cfg.internet = { enabled: true, clearOnDown: true, failback: { holdSec: 6, moveMetered: true } };
  // Domain classes learn from the box's DNS forwarder; its upstream is the lab's authoritative server.
  cfg.lan.dns = { upstreams: [{ address: serverWith(lab.topology, 'dns').address }] };
  cfg.appClasses = [
    { name: 'saas', match: { domains: ['saas2.example.test'] } },
    { name: 'spread', match: { prefixes: [`${saas1}/32`] } },
    ...(phase === 'A' ? [{ name: 'affine', match: { prefixes: [`${inet}/32`] } }] : []),
  ];
  cfg.policies = phase === 'A'
    ? [
      { appClass: 'saas', mode: 'weighted', weights: { ispd: 1 } },
      { appClass: 'spread', mode: 'weighted', weights: { ispa: 3, ispd: 1 } },
      { appClass: 'affine', mode: 'affinity' },
      { appClass: 'default', mode: 'best' },
    ]
    : [
      // spread stays on the LTE by policy: its flows there are not moved at failback.
      { appClass: 'saas', mode: 'weighted', weights: { ispd: 1 } },
      { appClass: 'spread', mode: 'weighted', weights: { ispd: 1 } },
      { appClass: 'default', mode: 'best' },
    ];
  fs.writeFileSync(file, stringify(cfg, { lineWidth: 0 }));
}

function node(script: string, ...args: Array<string | number>): string[] {
  return [process.execPath, '-e', script, ...args.map(String)];
}


/** A new flow every everyMs for n flows, each given timeoutMs: one JSON line per flow to the progress file as it ends. */
const stream = `
const http = require('node:http'); const fs = require('node:fs');
const [dst, n, everyMs, timeoutMs, out] = process.argv.slice(1).map((v, i) => (i === 0 || i === 4 ? v : Number(v)));
let i = 0; let ended = 0;
const timer = setInterval(() => {
  if (i >= n) { clearInterval(timer); return; }
  const k = i++; const t0 = Date.now(); let fin = false;
  const end = (r) => { if (fin) return; fin = true; fs.appendFileSync(out, JSON.stringify({ k, t0, ms: Date.now() - t0, ...r }) + '\\n'); if (++ended === n) process.exit(0); };
  const req = http.get({ host: dst, port: 80, path: '/', agent: false }, (res) => {
    let body = ''; res.on('data', (d) => { body += d; });
    res.on('end', () => { try { end({ client: JSON.parse(body).client }); } catch { end({ error: 'bad answer' }); } });
    res.on('error', (e) => end({ error: e.code || e.message }));
  });
  req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => end({ error: e.code || e.message }));
}, everyMs);`;

/** A long download at about rateBps, its byte count in the progress file every 100 ms, and how it ended. */
const download = `
const http = require('node:http'); const fs = require('node:fs');
const [dst, rate, out] = process.argv.slice(1);
let bytes = 0; const t0 = Date.now(); let done = false;
const finish = (how) => { if (done) return; done = true; fs.writeFileSync(out, JSON.stringify({ bytes, ended: how, at: Date.now() })); process.exit(0); };
const req = http.get({ host: dst, port: 80, path: '/bytes/17179869184', agent: false }, (res) => {
  res.on('data', (d) => { bytes += d.length; if (bytes > Number(rate) * (Date.now() - t0) / 1000) { res.pause(); setTimeout(() => res.resume(), 50); } });
  res.on('end', () => finish('end'));
  res.on('error', (e) => finish(e.code || e.message));
  res.on('aborted', () => finish('aborted'));
});
req.on('error', (e) => finish(e.code || e.message));
setInterval(() => { if (!done) fs.writeFileSync(out, JSON.stringify({ bytes, ended: null, at: Date.now() })); }, 100);`;

interface Download { bytes: number; ended: string | null; at: number }
const readJson = <T>(file: string): T | undefined => { try { return JSON.parse(fs.readFileSync(file, 'utf8')) as T; } catch { return undefined; } };

/** Starts a download in homehost; read() gives its progress. */
function startDownload(name: string, dst: string): { read: () => Download | undefined; file: string } {
  const file = path.join(runDir, `${name}.json`);
  lab.spawn(host, name, node(download, dst, 2_000_000, file));
  return { file, read: () => readJson<Download>(file) };
}

async function echo(dst: string): Promise<string> {
  const r = await lab.mustExec(host, ['curl', '-sS', '--noproxy', '*', '--max-time', '5', `http://${dst}/`]);
  return (JSON.parse(r) as { client: string }).client;
}

writeConfig('A');
for (const d of daemons) lab.spawn(box, d, [process.execPath, path.join(repoRoot, 'dist', 'daemons', d, 'main.js')], { env: lab.applianceEnv(box) });
for (const d of daemons) {
  await waitFor(`${box} ${d} ready`, () => fs.existsSync(path.join(lab.applianceEnv(box).TERN_RUN_DIR!, `${d}.ready`)), patience(10_000));
}
const bothUp = (p: Record<string, PathRow>): boolean => p.ispa?.state === 'up' && p.ispd?.state === 'up';
await waitFor('both internet paths up (probed judged both WANs up)', async () => bothUp(await internetPaths()) || undefined, patience(20_000));

t.test('phase A: weighted split, source affinity, a domain class', async (t) => {
  t.test('1000 new flows under weights ispa 3 : ispd 1 split within ±5 % of the weights, seen at saas1', async (t) => {
    const r = await httpBurst(lab, host, saas1, 1000, 20);
    const a = r.counts[ispaAddr] ?? 0;
    const d = r.counts[ispdAddr] ?? 0;
    t.equal(r.failed, 0, `got ${r.failed} failed flows; want 0`);
    t.equal(a + d, 1000, `got ${JSON.stringify(r.counts)}; want every answer from ispa's or ispd's address`);
    t.ok(Math.abs(a / 1000 - 0.75) <= 0.05, `ispa share: got ${a}/1000; want 750 ± 50`);
    t.ok(Math.abs(d / 1000 - 0.25) <= 0.05, `ispd share: got ${d}/1000; want 250 ± 50`);
    t.comment(`split: ispa ${a}, ispd ${d} (want 750 : 250)`);
  });

  t.test('source affinity keeps a host\'s flows on one WAN', async (t) => {
    const r = await httpBurst(lab, host, inet, 200, 10);
    t.equal(r.failed, 0, `got ${r.failed} failed flows; want 0`);
    t.equal(Object.keys(r.counts).length, 1, `got sources ${JSON.stringify(r.counts)}; want all 200 flows from one WAN address`);
  });

  t.test('a domain class goes 100 % out the WAN its policy names (ispd)', async (t) => {
    const answer = await dnsQuery(lab, host, boxLan, 'saas2.example.test');
    const learned = answer.answers.filter((a) => a.type === 'A').map((a) => a.data);
    t.same(learned, [saas2], `saas2.example.test through the box: got ${learned.join(', ')}; want ${saas2}`);
    const set = await waitFor('dnsmasq put the answer in the class\'s set', async () => {
      const r = await lab.exec(box, ['nft', '-j', 'list', 'set', 'inet', 'tern', 'dom4_saas']);
      return r.code === 0 && r.stdout.includes(saas2) ? r.stdout : undefined;
    }, patience(5000));
    t.ok(set.includes(saas2), `dom4_saas holds ${saas2}`);
    const r = await httpBurst(lab, host, saas2, 200, 10);
    t.same(r.counts, { [ispdAddr]: 200 }, `saas2: got ${JSON.stringify(r.counts)}; want all 200 from ispd's ${ispdAddr}`);
    const v = await view();
    const saasOnIspd = v.classes.find((c) => c.name === 'saas')?.wans.ispd?.flows ?? 0;
    t.ok(saasOnIspd > 0, `steer.internet: saas flows on ispd: got ${saasOnIspd}; want some (conntrack still holds them)`);
  });
});

t.test('phase B: blackhole, clear, failback hold, metered move-back', async (t) => {
  writeConfig('B');
  for (const d of daemons) await call(d, 'daemon.reload');
  await waitFor('both internet paths up after reload', async () => bothUp(await internetPaths()) || undefined, patience(20_000));
  t.equal(await echo(inet), ispaAddr, 'a new default-class flow leaves by ispa (unmetered, best)');

  const onIspa = startDownload('dl-ispa', inet);
  const keep = startDownload('dl-spread', saas1);
  await waitFor('both downloads moving', () => ((onIspa.read()?.bytes ?? 0) > 1e6 && (keep.read()?.bytes ?? 0) > 1e6) || undefined, patience(10_000));

  const progress = path.join(runDir, 'stream.jsonl');
  lab.spawn(host, 'stream', node(stream, inet, 120, 100, 2000, progress));
  const streamed = (): Array<{ k: number; t0: number; ms: number; client?: string; error?: string }> =>
    fs.existsSync(progress) ? fs.readFileSync(progress, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  await waitFor('10 stream flows answered through ispa', () => streamed().filter((s) => s.client === ispaAddr).length >= 10 || undefined, patience(10_000));

  await lab.impair(`ispa:${box}`).blackhole();
  const cutAt = Date.now();
  await waitFor('ispa internet path down', async () => (await internetPaths()).ispa?.state === 'down' || undefined, patience(10_000));
  const detectedAt = Date.now();
  const dl = await waitFor('the download through ispa ended (reset, not hanging)', () => { const d = onIspa.read(); return d?.ended ? d : undefined; }, { tries: 60, everyMs: 250 });
  t.not(dl.ended, 'end', `download through ispa: got ${dl.ended}; want an error (reset)`);
  t.comment(`download through ispa ended with ${dl.ended} ${dl.at - cutAt} ms after the blackhole (WAN down seen after ${detectedAt - cutAt} ms)`);
  const clear = (await view()).clears.find((c) => c.wan === 'ispa' && c.reason === 'down');
  t.ok(clear && clear.deleted >= 1 && clear.provoked >= 1, `steer.internet clears: got ${JSON.stringify(clear)}; want ispa's down clear with ≥ 1 deleted and ≥ 1 provoked`);

  await waitFor('the stream ended', () => streamed().length >= 120 || undefined, patience(20_000));
  const all = streamed();
  const failed = all.filter((s) => s.error);
  const afterCut = all.filter((s) => s.t0 >= cutAt);
  // 1 s of the default WAN probing (5 probes/s, down after 3 lost) is 10 new flows at one per 100 ms.
  t.ok(failed.length <= 12, `failed new flows: got ${failed.length} (${failed.map((f) => `#${f.k} ${f.error}`).join(', ')}); want at most 12`);
  const wrong = afterCut.filter((s) => s.client !== undefined && s.client !== ispdAddr);
  t.same(wrong, [], 'every flow begun after the blackhole that worked left by ispd');
  t.comment(`stream: ${all.length} flows, ${failed.length} failed, ${afterCut.filter((s) => s.client === ispdAddr).length} of ${afterCut.length} after the cut via ispd`);

  const onLte = startDownload('dl-lte', inet);
  await waitFor('a default-class download running over the LTE', () => (onLte.read()?.bytes ?? 0) > 1e6 || undefined, patience(10_000));
  t.equal(await echo(inet), ispdAddr, 'with ispa down, new default flows leave by ispd');

  await lab.impair(`ispa:${box}`).clear();
  const held = await waitFor('ispa back up, held for the failback hold', async () => {
    const p = (await internetPaths()).ispa;
    return p && p.probe?.state !== 'down' && (p.holdSec ?? 0) > 0 ? p : undefined;
  }, patience(10_000));
  t.equal(held.state, 'down', `ispa during the hold: got selector state ${held.state}; want down (no new flows)`);
  t.equal(await echo(inet), ispdAddr, 'during the hold new flows still leave by ispd');
  const keepBefore = keep.read()!.bytes;

  await waitFor('the hold over: ispa up for new flows', async () => { const p = (await internetPaths()).ispa; return p?.state === 'up' && (p.holdSec ?? 0) === 0 ? p : undefined; }, patience(15_000));
  const moved = await waitFor('the default download on the LTE cleared (moved back)', () => { const d = onLte.read(); return d?.ended ? d : undefined; }, patience(5_000));
  t.not(moved.ended, 'end', `download on ispd after failback: got ${moved.ended}; want an error (cleared so it reconnects by ispa)`);
  const fb = (await view()).clears.find((c) => c.reason === 'failback');
  t.ok(fb && fb.wan === 'ispd' && fb.deleted >= 1, `steer.internet clears: got ${JSON.stringify(fb)}; want a failback clear on ispd`);
  await waitFor('the spread download (policy: ispd) still moving after the failback', () => ((keep.read()?.bytes ?? 0) > keepBefore + 2e6 && keep.read()?.ended === null) || undefined, patience(10_000));
  t.equal(keep.read()?.ended, null, 'the flow its policy keeps on ispd was not flushed');
  t.equal(await echo(inet), ispaAddr, 'after the hold new default flows leave by ispa again');
  for (const name of ['dl-spread', 'dl-ispa', 'dl-lte', 'stream']) await lab.kill(host, name).catch(() => undefined);
});
