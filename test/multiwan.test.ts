// Lab test of issue #15 section 2: on a box with three WANs, each behind its
// own ISP, every path's outer packets leave (and arrive) by its own WAN —
// from the first packet of a fresh start, across a SIGKILL and restart of
// tunneld, and after a remote endpoint was forced onto the wrong WAN
// (WireGuard roaming), which tunneld on the far side notices and sets back.
// The evidence is tcpdump on each of branch1's three WAN links, started
// before any daemon.
//
// TERN_MULTIWAN_STARTS (default 2) sets the number of fresh starts;
// TERN_MULTIWAN_HOLD (default 25) how many outer packets each path must
// carry after all paths are up before the captures are judged (probes and
// their replies make some 20 per second per path: 1200 is about a minute).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../daemons/lib/config/index.js';
import { overlayPlan } from '../daemons/lib/overlay/index.js';
import {
  pathsOnWans, pathsOnWrongWan, pathsStillOnWrongWan, startWanCaptures, type PathOnWan, type PathPort, type WanCapture,
} from './lab/capture.js';
import { Lab, multiWanTopology, repoRoot } from './lab/index.js';
import { busCall, waitFor } from './lab/wait.js';

const starts = Number(process.env.TERN_MULTIWAN_STARTS ?? 2);
const hold = Number(process.env.TERN_MULTIWAN_HOLD ?? 25);
const appliances = ['branch1', 'home1', 'dc1', 'cloud1'];
/** tunneld makes the tunnels; probed keeps traffic on every path in both directions, as on a real box. */
const daemons = ['tunneld', 'probed'];

interface PathRow extends PathPort {
  site: string;
  remoteWan: string;
  state: string;
  ifname: string;
  endpoint: string | null;
  endpointDrifts?: number;
  endpointWanted?: string | null;
  probeAddress: string;
}
interface TunnelRow { ifname: string; ifindex: number | null }

const sock = (lab: Lab, node: string, daemon = 'tunneld'): string => path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${daemon}.sock`);

function start(lab: Lab, node: string, daemon: string): void {
  lab.spawn(node, daemon, [process.execPath, path.join(repoRoot, 'dist', 'daemons', daemon, 'main.js')], { env: lab.applianceEnv(node) });
}

async function ready(lab: Lab, node: string, daemon = 'tunneld'): Promise<void> {
  const file = path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${daemon}.ready`);
  await waitFor(`${node} ${daemon} ready`, () => fs.existsSync(file), { tries: 600, everyMs: 100 });
}

/** branch1's paths as its config plans them: name, WAN, listen port. */
function branchPaths(lab: Lab): PathPort[] {
  const cfg = parseConfig(fs.readFileSync(lab.applianceEnv('branch1').TERN_CONFIG!, 'utf8')).config;
  return overlayPlan(cfg).paths.map((p) => ({ name: p.name, localWan: p.localWan, listenPort: p.listenPort }));
}

async function allUp(lab: Lab): Promise<void> {
  for (const node of appliances) {
    await waitFor(`${node}: every path up`, async () => {
      const rows = await busCall<PathRow[]>(sock(lab, node), 'paths.list');
      return rows.length > 0 && rows.every((r) => r.state === 'up');
    }, { tries: 600, everyMs: 250 });
  }
}

/** Waits until every path has carried `hold` outer packets since `since` (on any WAN), and returns what the captures show since `from`. */
async function carried(lab: Lab, caps: WanCapture[], paths: PathPort[], since: number, from = 0): Promise<PathOnWan[]> {
  await waitFor(`every branch1 path carries ${hold} outer packets`, async () => {
    const rows = await pathsOnWans(lab, caps, paths, since);
    return paths.every((p) => rows.filter((r) => r.path === p.name).reduce((n, r) => n + r.packets, 0) >= hold);
  }, { tries: 600, everyMs: 500 });
  return pathsOnWans(lab, caps, paths, from);
}

/** branch1's listen port of the path home1 calls row (the far end of it). */
const branchPathPort = (paths: PathPort[], row: PathRow): number => paths.find((p) => p.name === `${row.remoteWan}/home/${row.localWan}`)!.listenPort;

const describe = (rows: PathOnWan[]): string => rows.filter((r) => !r.own).map((r) => `${r.path} on ${r.wan} (${r.packets} packets)`).join('; ');

interface Started { lab: Lab; caps: WanCapture[]; paths: PathPort[] }

/** A new lab: captures on branch1's WANs first, then the daemons everywhere, then every path up. */
async function freshStart(): Promise<Started> {
  const lab = await Lab.up(multiWanTopology());
  for (const node of appliances) lab.writeApplianceConfig(node);
  const caps = await startWanCaptures(lab, 'branch1');
  for (const node of appliances) for (const d of daemons) start(lab, node, d);
  for (const node of appliances) for (const d of daemons) await ready(lab, node, d);
  await allUp(lab);
  return { lab, caps, paths: branchPaths(lab) };
}

let last: Started | undefined;
t.teardown(async () => { await last?.lab.down(); });

t.test(`${starts} fresh starts: every path's outer packets only on its own WAN, from the first packet`, async (t) => {
  const figures: string[] = [];
  for (let i = 1; i <= starts; i++) {
    const s = await freshStart();
    if (i < starts) t.teardown(() => s.lab.down());
    else last = s;
    t.equal(s.paths.length, 9, `branch1: got ${s.paths.length} paths; want 3 WANs × 3 remote WANs`);
    const upAt = Date.now() / 1000;
    const rows = await carried(s.lab, s.caps, s.paths, upAt);
    const wrong = pathsOnWrongWan(rows);
    const afterUp = pathsOnWrongWan(await pathsOnWans(s.lab, s.caps, s.paths, upAt));
    const still = pathsStillOnWrongWan(rows);
    figures.push(`start ${i}: ${wrong.length}/${s.paths.length} (${afterUp.length} after all up, ${still.length} at the end)`);
    t.comment(`multiwan figure: start ${i}: ${wrong.length}/${s.paths.length} paths had outer packets on a wrong WAN; ${afterUp.length} still had some after every path was up; `
      + `${still.length} had their last packet there after ${hold} more packets each${wrong.length ? `: ${describe(rows)}` : ''}`);
    t.same(wrong, [], `start ${i}: got paths on a wrong WAN ${JSON.stringify(wrong)}; want none`);
    for (const p of s.paths) {
      const own = rows.find((r) => r.path === p.name && r.own);
      t.ok(own && own.packets > 0, `start ${i}: ${p.name}: got ${own?.packets ?? 0} packets on its own WAN ${p.localWan}; want some`);
    }
    if (i < starts) await s.lab.down();
  }
  t.comment(`multiwan figures: paths on a wrong WAN per fresh start: ${figures.join('; ')}`);
});

t.test('SIGKILL and restart of tunneld on branch1: no packet on a wrong WAN, no interface re-created', async (t) => {
  const s = last;
  if (!s) return t.fail('no lab left by the fresh starts');
  const { lab, caps, paths } = s;
  const before = await busCall<TunnelRow[]>(sock(lab, 'branch1'), 'tunnels.list');
  const from = Date.now() / 1000;
  await lab.kill('branch1', 'tunneld', 'SIGKILL');
  fs.rmSync(path.join(lab.applianceEnv('branch1').TERN_RUN_DIR!, 'tunneld.ready'), { force: true });
  start(lab, 'branch1', 'tunneld');
  await ready(lab, 'branch1');
  const rows = await carried(lab, caps, paths, Date.now() / 1000, from);
  const wrong = pathsOnWrongWan(rows);
  t.same(wrong, [], `across the restart: got paths on a wrong WAN ${JSON.stringify(wrong)} (${describe(rows)}); want none`);
  const after = await busCall<TunnelRow[]>(sock(lab, 'branch1'), 'tunnels.list');
  t.same(after.map((x) => [x.ifname, x.ifindex]), before.map((x) => [x.ifname, x.ifindex]), 'the same interfaces with the same indexes');
  const info = await busCall<{ lastReconcile: { created: string[]; destroyed: string[]; configured: Record<string, string[]>; routes: { replaced: number; removed: number }; rules: { added: number; removed: number } } }>(sock(lab, 'branch1'), 'overlay.info');
  const r = info.lastReconcile;
  t.same([r.created, r.destroyed, r.configured, r.routes, r.rules], [[], [], {}, { replaced: 0, removed: 0 }, { added: 0, removed: 0 }],
    `the restart adopted everything: got ${JSON.stringify(r)}`);
});

t.test('a remote endpoint forced onto the wrong WAN: tunneld on the far side notices, counts it once, and sets it back', async (t) => {
  const s = last;
  if (!s) return t.fail('no lab left by the fresh starts');
  const { lab, caps, paths } = s;
  // home1's path to branch1's third WAN (ispc, 198.18.3.2): its endpoint
  // is moved to branch1's first WAN address (ispa), as roaming would after
  // a packet from there.
  const rows = await busCall<PathRow[]>(sock(lab, 'home1'), 'paths.list');
  const victim = rows.find((r) => r.site === 'branch' && r.remoteWan === 'ispc');
  if (!victim?.endpoint) return t.fail(`home1 has no path to branch's ispc with an endpoint: ${JSON.stringify(rows)}`);
  t.match(victim.endpoint, /^198\.18\.3\.2:\d+$/, `before: got endpoint ${victim.endpoint}; want branch1's ispc address`);
  t.equal(victim.endpointWanted, victim.endpoint, 'the endpoint tunneld wants is the one in use');
  const port = victim.endpoint.split(':')[1]!;
  const wrong = `198.18.1.2:${port}`;
  const branchKey = fs.readFileSync(path.join(lab.runDir, 'keys', 'site-branch.pub'), 'utf8').trim();
  const branchPath = paths.find((p) => p.listenPort === branchPathPort(paths, victim))!;
  const driftsBefore = victim.endpointDrifts ?? 0;
  // While the drift is forced, ISP C drops what branch1 sends home1 on
  // this path: otherwise home1's WireGuard roams back by itself on
  // branch1's next packet from its ispc address, and what is under test is
  // whether tunneld notices and sets it back (a stand-in for a far end
  // still sending from the wrong WAN, which the fix no longer lets happen).
  const drop = [
    'table inet multiwantest {', ' chain forward {', '  type filter hook forward priority -10; policy accept;',
    `  ip saddr 198.18.3.2 udp sport ${branchPathPort(paths, victim)} drop`, ' }', '}', '',
  ].join('\n');
  await lab.mustExec('ispc', ['nft', '-f', '-'], { input: drop });
  t.teardown(() => lab.exec('ispc', ['nft', 'delete', 'table', 'inet', 'multiwantest']).then(() => undefined));
  const from = Date.now() / 1000;
  await lab.mustExec('home1', ['wg', 'set', victim.ifname, 'peer', branchKey, 'endpoint', wrong]);
  // A packet at once, before tunneld's next reading: the far end hears it on its ispa WAN.
  await lab.exec('home1', ['ping', '-6', '-c', '1', '-W', '1', victim.probeAddress]);
  const moved = await waitFor(`home1 ${victim.name}: endpoint back on 198.18.3.2`, async () => {
    const r = (await busCall<PathRow[]>(sock(lab, 'home1'), 'paths.list')).find((x) => x.name === victim.name);
    return r && r.endpoint === victim.endpoint && (r.endpointDrifts ?? 0) > driftsBefore ? r : undefined;
  }, { tries: 100, everyMs: 200 });
  await lab.mustExec('ispc', ['nft', 'delete', 'table', 'inet', 'multiwantest']);
  t.equal(moved.endpointDrifts, driftsBefore + 1, `got ${moved.endpointDrifts} drifts; want ${driftsBefore + 1} (one drift, counted once)`);
  const forced = (await pathsOnWans(lab, caps, [branchPath], from)).filter((r) => !r.own);
  t.ok(forced.length > 0, `the forced endpoint did reach branch1 on a wrong WAN: got ${JSON.stringify(forced)}`);
  // Settled: the path's last `hold` packets all on its own WAN.
  await waitFor(`${branchPath.name}: its last ${hold} packets on ${branchPath.localWan}`, async () => {
    const byWan = await pathsOnWans(lab, caps, [branchPath], from);
    const lastWrong = Math.max(0, ...byWan.filter((r) => !r.own).map((r) => r.last));
    const own = await pathsOnWans(lab, caps, [branchPath], lastWrong + 1e-6);
    return (own.find((r) => r.own)?.packets ?? 0) >= hold;
  }, { tries: 300, everyMs: 500 });
  t.pass(`${branchPath.name} is back on ${branchPath.localWan}`);
  const log = fs.readFileSync(path.join(lab.runDir, 'logs', 'home1.tunneld.log'), 'utf8').split('\n').filter((l) => l.includes('endpoint drifted') && l.includes(`"${victim.name}"`));
  t.equal(log.length, driftsBefore + 1, `got ${log.length} drift log lines; want ${driftsBefore + 1} (once per drift)`);
  const status = await busCall<{ paths: { endpointDrifts: number } }>(sock(lab, 'home1'), 'daemon.status');
  t.ok(status.paths.endpointDrifts >= driftsBefore + 1, `daemon.status: got ${status.paths.endpointDrifts} drifts in all; want at least ${driftsBefore + 1}`);
});
