// Integration test (root): a process that builds a lab and then crashes, is
// signalled or exits without down() leaves nothing behind; after SIGKILL,
// Lab.cleanupStale removes the leftovers, and never a live owner's lab.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { runSync } from './command.js';
import type { ImpairRecord } from './impair.js';
import { Lab, type LabState } from './lab.js';
import { procStartTime } from './proc.js';
import { defaultTopology } from './topology.js';
import { patience, waitFor } from './wait.js';

const fixture = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'teardown.fixture.js');

function netnsWithPrefix(prefix: string): string[] {
  return runSync(['ip', 'netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`${prefix}-`));
}

async function gone(pid: number): Promise<boolean> {
  // Reparented orphans are reaped by init a moment after they die.
  return waitFor(`pid ${pid} reaped`, () => procStartTime(pid) === undefined, patience(100, 10)).catch(() => false);
}

interface Outcome {
  prefix: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Run the fixture, send signal once its lab is up, wait for it to end. */
function runFixture(mode: string, runDir: string, signal?: NodeJS.Signals): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, mode, runDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let prefix = '';
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (!prefix && out.includes('\n') && line) {
        prefix = (JSON.parse(line) as { prefix: string }).prefix;
        if (signal) child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('close', (code, sig) => resolve({ prefix, code, signal: sig, stderr: err }));
  });
}

const cases: Array<{ name: string; mode: string; signal?: NodeJS.Signals; code: number | null; stale: boolean }> = [
  { name: 'uncaught error', mode: 'throw', code: 1, stale: false },
  { name: 'unhandled rejection', mode: 'reject', code: 1, stale: false },
  { name: 'process.exit without down()', mode: 'exit', code: 3, stale: false },
  { name: 'SIGTERM', mode: 'wait', signal: 'SIGTERM', code: 143, stale: false },
  { name: 'SIGINT', mode: 'wait', signal: 'SIGINT', code: 130, stale: false },
  { name: 'SIGKILL, then cleanupStale', mode: 'wait', signal: 'SIGKILL', code: null, stale: true },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-teardown-'));
    t.teardown(() => fs.rmSync(runDir, { recursive: true, force: true }));
    const o = await runFixture(c.mode, runDir, c.signal);
    t.match(o.prefix, /^tl[0-9a-f]{6}$/, `got prefix ${JSON.stringify(o.prefix)}; want the fixture's lab to come up (stderr: ${o.stderr})`);
    if (!o.prefix) return;
    t.equal(o.code, c.code, `got exit code ${o.code} (signal ${o.signal}); want ${c.code}`);

    const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as LabState;
    const relays = ['ispa.office1.json', 'ispb.office2.json'].map((f) =>
      (JSON.parse(fs.readFileSync(path.join(runDir, 'impair', f), 'utf8')) as ImpairRecord).delay!.relay.pid);
    const pids = [...state.processes.map((p) => p.pid), ...relays];
    t.equal(pids.length, 3, 'the sleeper and both relays were recorded');

    if (c.stale) {
      t.equal(o.signal, 'SIGKILL');
      t.ok(netnsWithPrefix(o.prefix).length > 0, 'SIGKILL left the namespaces (no handler can run)');
      t.equal(state.status, 'up', 'and the state still says up');
      t.ok(await gone(relays[0]!), 'the relay the owner started died with it (PR_SET_PDEATHSIG)');
      t.ok(await gone(relays[1]!), 'the relay the CLI started noticed its owner was gone (--owner-pid)');
      const removed = await Lab.cleanupStale(new RegExp(`^${o.prefix}$`));
      t.same(removed, [o.prefix], `got cleanupStale → ${JSON.stringify(removed)}; want [${o.prefix}]`);
    }
    t.same(netnsWithPrefix(o.prefix), [], `no namespace with prefix ${o.prefix} is left`);
    for (const pid of pids) t.ok(await gone(pid), `pid ${pid} started by the lab is gone`);
    const after = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as LabState;
    t.equal(after.status, 'down', `got state ${after.status}; want down`);
  });
}

t.test('cleanupStale leaves a lab whose owner is alive', async (t) => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-teardown-'));
  const lab = await Lab.up(defaultTopology(), { runDir });
  t.teardown(async () => {
    await lab.down();
    fs.rmSync(runDir, { recursive: true, force: true });
  });
  const removed = await Lab.cleanupStale(new RegExp(`^${lab.prefix}$`));
  t.same(removed, [], `got ${JSON.stringify(removed)}; want nothing removed`);
  t.equal(netnsWithPrefix(lab.prefix).length, defaultTopology().nodes.length, 'all its namespaces are still there');
});

t.test('a failed build removes what it had built', async (t) => {
  const topo = defaultTopology();
  // Two routes to one prefix pass validation, but the second `route add`
  // fails (File exists) once namespaces and links already exist.
  topo.routes.push({ node: 'core', to: '203.0.113.0/24', via: '198.18.0.2' });
  topo.routes.push({ node: 'core', to: '203.0.113.0/24', via: '198.18.0.6' });
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-teardown-'));
  t.teardown(() => fs.rmSync(runDir, { recursive: true, force: true }));
  const prefix = `tlfa${process.pid.toString(16).slice(-4).padStart(4, '0')}`;
  await t.rejects(Lab.up(topo, { runDir, prefix }), { code: 'TERN_E_LAB_COMMAND' }, 'a duplicate route makes ip fail');
  t.same(netnsWithPrefix(prefix), [], 'no namespace is left after the failed build');
  const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as LabState;
  t.equal(state.status, 'down', `got state ${state.status}; want down`);
});
