// Integration test of the lab (root): the default topology comes up with the
// expected reachability, configs validate, processes are tracked, and
// teardown leaves nothing behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../daemons/lib/config/index.js';
import { runSync } from './command.js';
import { formatReachability, reachabilityPlan, runReachability } from './checks.js';
import { discoverDaemons, startDaemons } from './daemons.js';
import { Lab, type LabState } from './lab.js';
import { procStartTime } from './proc.js';
import { defaultTopology } from './topology.js';
import { patience, waitFor } from './wait.js';

function rootLinks(): Set<string> {
  const out = runSync(['ip', '-j', 'link', 'show']).stdout;
  return new Set((JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname));
}

function netnsList(): string[] {
  return runSync(['ip', 'netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.length > 0);
}

const topo = defaultTopology();
const labIfnames = new Set(topo.links.flatMap((l) => [l.a.ifname, l.b.ifname]).concat(['br0']));
const rootBefore = rootLinks();
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-test-'));
const lab = await Lab.up(topo, { runDir });
t.teardown(async () => {
  await lab.down();
  fs.rmSync(runDir, { recursive: true, force: true });
});

/** Links that appeared in the root namespace since the start and carry a lab interface name. */
function labLinksInRoot(): string[] {
  return [...rootLinks()].filter((l) => !rootBefore.has(l) && (labIfnames.has(l) || /^(dly|rin)\d+$/.test(l)));
}

t.test('state.json describes the running lab', async (t) => {
  const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as LabState;
  t.equal(state.status, 'up', `got status ${state.status}; want up`);
  t.equal(state.owner.pid, process.pid, `got owner ${state.owner.pid}; want this process ${process.pid}`);
  t.match(lab.prefix, /^tl[0-9a-f]{6}$/, `got prefix ${lab.prefix}; want tl + 6 hex digits`);
  const present = new Set(netnsList());
  for (const n of topo.nodes) {
    const ns = state.namespaces[n.name];
    t.equal(ns, `${lab.prefix}-${n.name}`, `got namespace ${ns} for ${n.name}; want ${lab.prefix}-${n.name}`);
    t.ok(present.has(ns!), `namespace ${ns} exists`);
  }
  t.same(state.topology.links, topo.links, 'state.json carries the links and addresses');
  const attached = Lab.attach(lab.prefix);
  t.equal(attached.runDir, runDir, 'attach by prefix finds the run directory');
  t.equal(attached.ns('office1'), lab.ns('office1'));
  t.throws(() => Lab.attach('tlnothere'), { code: 'TERN_E_LAB_STATE' }, 'an unknown lab is TERN_E_LAB_STATE');
  t.throws(() => lab.ns('nosuchnode'), { code: 'TERN_E_LAB_TOPOLOGY' });
  t.same(labLinksInRoot(), [], 'nothing of the lab sits in the root namespace');
  const ifs = JSON.parse(await lab.mustExec('ispa', ['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>;
  t.same(ifs.map((i) => i.ifname).sort(), ['core', 'home1', 'lo', 'office1'], 'the ISP names its interfaces after its customers');
  for (const a of lab.nodes('appliance')) {
    const fwd = (await lab.mustExec(a.name, ['sysctl', '-n', 'net.ipv4.ip_forward'])).trim();
    t.equal(fwd, '1', `got ip_forward ${fwd} on ${a.name}; want 1`);
    const env = lab.applianceEnv(a.name);
    for (const key of ['TERN_ETC_DIR', 'TERN_RUN_DIR', 'TERN_STATE_DIR'] as const) {
      t.ok(fs.statSync(env[key]!).isDirectory(), `${key} of ${a.name} is a directory`);
    }
    t.equal(env.TERN_CONFIG, path.join(env.TERN_ETC_DIR!, 'tern.yaml'));
  }
});

t.test('reachability before the overlay exists', async (t) => {
  const results = await runReachability(lab, reachabilityPlan(topo));
  const pairs = results.filter((r) => r.want && topo.nodes.find((n) => n.name === r.from)?.role === 'appliance');
  // 4 appliances, each reaching the 3 others' WANs: 5 WANs (home1 has two), so 4 × 5 − 5 own.
  t.equal(pairs.length, 15, `got ${pairs.length} appliance-to-WAN probes; want 15 (every appliance to every other's WANs)`);
  t.ok(results.some((r) => r.from === 'rw' && r.want), 'the roadwarrior is probed');
  t.ok(results.some((r) => r.from === 'officehost' && !r.want), 'LAN isolation is probed');
  const failed = results.filter((r) => !r.ok);
  t.same(failed, [], `failed probes:\n${formatReachability(failed)}`);
});

t.test('every generated config validates with the config loader', async (t) => {
  for (const a of lab.nodes('appliance')) {
    const file = lab.writeApplianceConfig(a.name);
    t.equal(file, lab.applianceEnv(a.name).TERN_CONFIG);
    try {
      const loaded = await loadConfig(file);
      t.equal(loaded.config.identity.name, a.name, `got identity.name ${loaded.config.identity.name}; want ${a.name}`);
      const key = loaded.config.overlay.privateKeyFile!;
      t.equal((fs.statSync(key).mode & 0o777).toString(8), '600', `got mode of ${key}; want 600`);
    } catch (err) {
      t.fail(`config of ${a.name}: got ${(err as Error).message}; want valid`);
    }
  }
});

t.test('exec, spawn and kill run inside nodes', async (t) => {
  const r = await lab.exec('officehost', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  t.equal(r.code, 0);
  t.match(r.stdout, /10\.1\.0\.10\/24/, `got ${r.stdout.trim()}; want officehost's address`);
  const slow = await lab.exec('officehost', ['sleep', '30'], { timeoutMs: 200 });
  t.ok(slow.timedOut, 'exec past its timeout is killed and says so');
  t.equal((await lab.exec('office1', ['false'])).code, 1, 'a failing command returns its code');

  const p = lab.spawn('officehost', 'sleeper', ['sleep', '600']);
  // The pid is `ip netns exec` until it has entered the namespace and exec'd sleep.
  await waitFor('the sleeper exec\'d in officehost', () => fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'sleep', patience(100, 10)).catch(() => undefined);
  const netns = fs.readlinkSync(`/proc/${p.pid}/ns/net`);
  const target = fs.statSync(`/run/netns/${lab.ns('officehost')}`).ino;
  t.match(netns, new RegExp(`net:\\[${target}\\]`), `got ${netns}; want the officehost namespace inode ${target}`);
  t.throws(() => lab.spawn('officehost', 'sleeper', ['sleep', '1']), { code: 'TERN_E_LAB_COMMAND' }, 'a second process of one name is refused');
  const exit = await lab.kill('officehost', 'sleeper', 'SIGTERM');
  t.equal(exit.signal, 'SIGTERM', `got exit ${JSON.stringify(exit)}; want death by SIGTERM`);
  const state = lab.getState();
  t.ok(state.processes.some((x) => x.pid === p.pid && x.exitSignal === 'SIGTERM'), 'state.json records the exit');
  t.ok(fs.existsSync(path.join(runDir, 'logs', 'officehost.sleeper.log')), 'the process has its log file');
});

t.test('startDaemons starts what dist/daemons holds', async (t) => {
  const found = discoverDaemons();
  const started = startDaemons(lab);
  t.same(started.daemons, found, `got ${started.daemons}; want ${found}`);
  t.equal(started.processes.length, found.length * 4, `got ${started.processes.length} processes; want ${found.length} daemons × 4 appliances`);
  if (found.length === 0) t.match(started.summary, /found no daemon/, 'says that none was found');

  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-daemons-'));
  t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
  for (const d of ['lib', 'ctl', 'notes', 'probed']) fs.mkdirSync(path.join(empty, d));
  for (const d of ['lib', 'ctl', 'probed']) fs.writeFileSync(path.join(empty, d, 'main.js'), '');
  t.same(discoverDaemons(empty), ['probed'], 'lib and ctl are not daemons; a folder without main.js is not one');
});

t.test('teardown leaves nothing behind', async (t) => {
  const sleeper = lab.spawn('cloudsrv', 'sleeper2', ['sleep', '600']);
  await lab.impair('office1:wan0').delay(5);
  const relay = lab.impair('office1:wan0').current().delay!.relay;
  const recorded = lab.getState().processes.map((p) => p.pid);
  t.ok(recorded.includes(sleeper.pid), 'the spawned pid is in state.json');
  t.ok(procStartTime(relay.pid) !== undefined, 'the relay runs before teardown');

  await lab.down();
  await lab.down(); // idempotent

  const left = netnsList().filter((ns) => ns.startsWith(`${lab.prefix}-`));
  t.same(left, [], `got namespaces ${left}; want none with prefix ${lab.prefix}`);
  const etc = fs.existsSync('/etc/netns') ? fs.readdirSync('/etc/netns').filter((d) => d.startsWith(`${lab.prefix}-`)) : [];
  t.same(etc, [], `got /etc/netns entries ${etc}; want none with prefix ${lab.prefix}`);
  for (const pid of [...recorded, relay.pid]) t.equal(procStartTime(pid), undefined, `pid ${pid} the lab started is gone`);
  t.same(labLinksInRoot(), [], 'no link created in the root namespace');
  // Daemons' own children (wireguard-go daemonizes) carry the appliance
  // environment: none may survive either.
  const survivors = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(`TERN_RUN_DIR=${runDir}`);
    } catch {
      return false;
    }
  });
  t.same(survivors, [], `got processes ${survivors} with this lab's environment; want none`);
  const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as LabState;
  t.equal(state.status, 'down', `got status ${state.status}; want down`);
  t.ok(state.downAt, 'downAt is set');
  t.notOk(fs.existsSync(`/run/tern-lab/${lab.prefix}.json`), 'the registry entry is removed');
});
