// Internet breakout benchmark (issue #17): a LAN host reaching the
// internet's inet server (198.18.100.10) through its box, the product
// against kernel NAT alone, measured in one lab, rounds interleaved so
// load drifts hit both alike. Two figures:
//   (a) throughput: iperf3 TCP, 1 stream;
//   (b) new internet flows per second: short TCP connections (SYN,
//       SYN-ACK, ACK, then RST: no TIME_WAIT, so ports never run out) at
//       offered rates that double until the completed rate stops rising.
// Product: homehost through home1 running every daemon built under
// dist/daemons (tern-edged's firewall and NAT, steerd's steering, with
// tunneld and probed), configured by the lab's tern.yaml as is.
// Baseline: officehost through office1, which runs no daemon and has one
// masquerade rule on its WAN (no filter, no steering). Both boxes sit
// behind ispa on identical veths; a calibration round with the same
// masquerade rule on both, before any daemon starts, shows how alike the
// two paths are. The product is measured only if homehost reaches inet
// through home1 by the product's own NAT: no rule of this benchmark ever
// stands in for it. It reports; it never fails on time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, defaultTopology, discoverDaemons, httpEcho, iperf, iperfPort, startDaemons, startInternet } from '../lab/index.js';
import { applianceWans, hostOf } from '../lab/topology.js';
import { busCall, patience, waitFor } from '../lab/wait.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const FLOW_SECONDS = Number(process.env.BENCH_FLOW_SECONDS ?? 2);
const MAX_RATE = Number(process.env.BENCH_MAX_RATE ?? 16_000);
const inet = '198.18.100.10';
const flowPort = 9000;
type Side = { name: string; host: string; box: string };
const baseline: Side = { name: 'kernel NAT alone', host: 'officehost', box: 'office1' };
const product: Side = { name: 'product', host: 'homehost', box: 'home1' };
const standIn = 'bench_nat';

/** The baseline's one rule: masquerade out of the box's WAN, nothing else (a table of the benchmark's, not Tern's). */
const masquerade = `table ip ${standIn} {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "wan0" masquerade\n  }\n}\n`;

// The flow generator, run with node in a LAN host: opens `rate` TCP
// connections a second to dst:port for `seconds`, resets each once it is
// established, and prints what completed. In-flight connections are
// bounded, so a generator that cannot keep up says so (skipped) instead of
// queueing without end.
const generator = `
const net = require('node:net');
const [dst, port, rate, seconds] = process.argv.slice(1).map((v, i) => i === 0 ? v : Number(v));
const maxInFlight = 4000, timeoutMs = 2000;
let started = 0, completed = 0, failed = 0, skipped = 0, inFlight = 0;
const t0 = Date.now();
const cpu0 = process.cpuUsage();
// Paced by elapsed time, not by ticks: a timer fires late on a loaded box.
const timer = setInterval(() => {
  const elapsed = Date.now() - t0;
  if (elapsed >= seconds * 1000) { clearInterval(timer); return finish(); }
  const due = Math.floor(rate * elapsed / 1000) - started - skipped;
  for (let i = 0; i < due; i++) {
    if (inFlight >= maxInFlight) { skipped++; continue; }
    started++; inFlight++;
    const s = net.connect({ host: dst, port });
    let done = false;
    const end = (ok) => { if (done) return; done = true; clearTimeout(t); inFlight--; if (ok) completed++; else failed++; };
    const t = setTimeout(() => { end(false); s.destroy(); }, timeoutMs);
    s.once('connect', () => { end(true); s.resetAndDestroy(); });
    s.on('error', () => end(false));
  }
}, 5);
function finish() {
  const elapsedMs = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuPct = Math.round(100 * (cpu.user + cpu.system) / 1000 / elapsedMs);
  const wait = setInterval(() => {
    if (inFlight > 0 && Date.now() - t0 < (seconds * 1000) + timeoutMs + 500) return;
    clearInterval(wait);
    process.stdout.write(JSON.stringify({ started, completed, failed, skipped, unfinished: inFlight, seconds: elapsedMs / 1000, cpuPct }) + '\\n');
    process.exit(0);
  }, 50);
}`;

// Accept and let the client reset: the server's side of a short flow.
const acceptor = `
const net = require('node:net');
const [address, port] = process.argv.slice(1);
net.createServer({ noDelay: true }, (s) => { s.on('error', () => {}); }).listen(Number(port), address, 4096);`;

interface FlowRun { started: number; completed: number; failed: number; skipped: number; unfinished: number; seconds: number; cpuPct: number }

const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bench-breakout-'));
const lab = await Lab.up(defaultTopology(), { runDir });
const cleanup = async (): Promise<void> => {
  await lab.down();
  fs.rmSync(runDir, { recursive: true, force: true });
};

const mbit = (b: number): string => `${(b / 1e6).toFixed(0)} Mbit/s`;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function throughput(side: Side): Promise<number> {
  return (await iperf(lab, 'inet', inet, side.host, { seconds: SECONDS, serverRunning: true, port: iperfPort })).bitsPerSecond;
}

async function flows(side: Side, rate: number): Promise<FlowRun> {
  const out = await lab.mustExec(side.host, [process.execPath, '-e', generator, inet, String(flowPort), String(rate), String(FLOW_SECONDS)],
    { timeoutMs: (FLOW_SECONDS + 30) * 1000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as FlowRun;
}

/** Which WAN address the inet server sees for side's host: the far end's word for the way out. */
async function seenFrom(side: Side): Promise<string> {
  return (await httpEcho(lab, side.host, inet, { timeoutMs: 3000 })).client;
}

try {
  await startInternet(lab);
  lab.spawn('inet', 'acceptor', [process.execPath, '-e', acceptor, inet, String(flowPort)]);
  await waitFor(`inet: acceptor on ${flowPort}`, async () => (await lab.mustExec('inet', ['ss', '-Hltn', `sport = :${flowPort}`])).trim() !== '', patience(2000));

  // Calibration: both boxes with kernel NAT alone, before any daemon.
  for (const box of [baseline.box, product.box]) await lab.mustExec(box, ['nft', '-f', '-'], { input: masquerade });
  const cal = { office: [] as number[], home: [] as number[] };
  for (let i = 0; i < 2; i++) {
    cal.office.push(await throughput(baseline));
    cal.home.push(await throughput(product));
  }
  const calFlows = { office: await flows(baseline, 2000), home: await flows(product, 2000) };
  await lab.mustExec(product.box, ['nft', 'delete', 'table', 'ip', standIn]);
  console.log(`breakout: lab ${lab.getState().prefix}; iperf3 TCP 1 stream ${SECONDS} s, ${ROUNDS} rounds; flows ${FLOW_SECONDS} s per rate`);
  console.log(`calibration, both kernel NAT alone: office1 ${mbit(mean(cal.office))}, home1 ${mbit(mean(cal.home))} (home1/office1 ${(100 * mean(cal.home) / mean(cal.office)).toFixed(1)} %); ` +
    `2000 flows/s offered: office1 ${(calFlows.office.completed / calFlows.office.seconds).toFixed(0)}/s, home1 ${(calFlows.home.completed / calFlows.home.seconds).toFixed(0)}/s`);

  // The product on home1: whatever daemons this tree has built.
  const daemons = discoverDaemons();
  let productWhy: string | undefined;
  if (!daemons.includes('edged')) productWhy = `tern-edged is not built (no dist/daemons/edged/main.js; found ${daemons.join(', ') || 'none'})`;
  if (!productWhy) {
    startDaemons(lab, { nodes: [product.box] });
    for (const d of daemons) {
      await waitFor(`${product.box} ${d} ready`, () => fs.existsSync(path.join(lab.applianceEnv(product.box).TERN_RUN_DIR!, `${d}.ready`)), patience(20_000, 500));
    }
    const wans = applianceWans(lab.topology, product.box).map((w) => hostOf(w.address));
    const via = await waitFor(`${product.host} reaches inet through ${product.box}'s NAT`, async () => {
      const seen = await seenFrom(product).catch(() => undefined);
      return seen && wans.includes(seen) ? seen : undefined;
    }, patience(10_000, 500)).catch((e: unknown) => { productWhy = `${product.host} does not reach inet through ${product.box}: ${(e as Error).message}`; return undefined; });
    const left = await lab.exec(product.box, ['nft', 'list', 'table', 'ip', standIn]);
    if (left.code === 0) productWhy = `the benchmark's own ${standIn} table is on ${product.box}: refusing to measure a stand-in`;
    if (via && !productWhy) console.log(`product: ${daemons.join(', ')} on ${product.box}; inet sees ${product.host} from ${via}`);
  }
  const officeVia = await seenFrom(baseline);
  console.log(`baseline: no daemon on ${baseline.box}, one masquerade rule; inet sees ${baseline.host} from ${officeVia}`);

  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push(await throughput(baseline));
    if (!productWhy) on.push(await throughput(product));
    console.log(`  round ${round + 1}: ${baseline.name} ${mbit(off.at(-1)!)}${productWhy ? '' : `, product ${mbit(on.at(-1)!)}`}`);
  }

  // Flows per second: double the offered rate until the completed rate of
  // both sides has stopped rising (under 10 % above its best so far) for two
  // steps in a row (one step alone is within this machine's noise), or the
  // ceiling is reached.
  // steerd's own counters say whether the product's flows were steered (each
  // new flow's first packet through a worker), not only NATed.
  const steerSock = path.join(lab.applianceEnv(product.box).TERN_RUN_DIR!, 'steerd.sock');
  const steered = async (): Promise<{ packets: number; steered: number } | undefined> => {
    if (!fs.existsSync(steerSock)) return undefined;
    const c = await busCall<{ queues: Array<{ packets: number; steered: number }> }>(steerSock, 'steer.counters').catch(() => undefined);
    return c ? c.queues.reduce((a, q) => ({ packets: a.packets + q.packets, steered: a.steered + q.steered }), { packets: 0, steered: 0 }) : undefined;
  };
  const steeredBefore = await steered();
  let productFlows = 0;
  const flat = { off: 0, on: productWhy ? 2 : 0 };
  let best = { off: 0, on: 0 };
  for (let rate = 500; rate <= MAX_RATE && (flat.off < 2 || flat.on < 2); rate *= 2) {
    const o = await flows(baseline, rate);
    const p = productWhy ? undefined : await flows(product, rate);
    if (p) productFlows += p.started;
    const got = { off: o.completed / o.seconds, on: p ? p.completed / p.seconds : 0 };
    flat.off = got.off < best.off * 1.1 ? flat.off + 1 : 0;
    if (p) flat.on = got.on < best.on * 1.1 ? flat.on + 1 : 0;
    best = { off: Math.max(best.off, got.off), on: Math.max(best.on, got.on) };
    const fmt = (r: FlowRun): string => `${(r.completed / r.seconds).toFixed(0)}/s (offered ${((r.started + r.skipped) / r.seconds).toFixed(0)}/s: started ${r.started}, failed ${r.failed}, unfinished ${r.unfinished}, skipped ${r.skipped}; generator ${r.cpuPct} % of a core)`;
    console.log(`  offered ${rate}/s: ${baseline.name} ${fmt(o)}${p ? `, product ${fmt(p)}` : ''}`);
  }

  console.log(`throughput, ${baseline.name} (baseline)   ${mbit(mean(off))}`);
  if (productWhy) {
    console.log(`throughput, product                 not measured: ${productWhy}`);
  } else {
    console.log(`throughput, product                 ${mbit(mean(on))}`);
    console.log(`ratio product / kernel NAT alone    ${(100 * mean(on) / mean(off)).toFixed(1)} %  (aim >= 90 %)`);
  }
  console.log(`new flows, ${baseline.name} (baseline)    saturates at ${best.off.toFixed(0)}/s`);
  if (productWhy) {
    console.log(`new flows, product                  not measured: ${productWhy}`);
  } else {
    console.log(`new flows, product                  saturates at ${best.on.toFixed(0)}/s`);
    console.log(`ratio product / kernel NAT alone    ${(100 * best.on / best.off).toFixed(1)} %`);
    const after = await steered();
    if (steeredBefore && after) {
      console.log(`steerd: ${after.steered - steeredBefore.steered} first packets steered, ${after.packets - steeredBefore.packets} queued, while the product side started ${productFlows} flows`);
    } else {
      console.log('steerd: steer.counters did not answer: whether the flows were steered is not known');
    }
  }
} finally {
  await cleanup();
}
