import t from 'tap';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../clock/index.js';
import { WireguardGo, readInotifyCeiling, wireguardGoCeilingProblem } from './wggo.js';

t.test('start: exit 0 is ready; a failure carries the last output lines', async (t) => {
  await t.resolves(new WireguardGo({ command: ['true'] }).start('tn0'));
  await t.rejects(
    new WireguardGo({ command: ['sh', '-c', 'echo "┌──┐"; echo "ERROR: (tn0) Failed to create TUN device: boom" >&2; exit 1', 'wireguard-go'] }).start('tn0'),
    { code: 'TERN_E_KERNEL_WG_BACKEND', message: 'wireguard: create tn0: wireguard-go exited with code 1: ERROR: (tn0) Failed to create TUN device: boom' },
  );
  await t.rejects(new WireguardGo({ command: ['/nonexistent/wireguard-go'] }).start('tn0'), {
    code: 'TERN_E_KERNEL_WG_BACKEND', message: /cannot run \/nonexistent\/wireguard-go: ENOENT/,
  });
  await t.rejects(new WireguardGo({ command: ['true'] }).start('bad/name'), { code: 'TERN_E_KERNEL_ARG' });
});

t.test('start: the interface name is the last argument and LOG_LEVEL is not passed on', async (t) => {
  const saved = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'debug';
  t.teardown(() => { if (saved === undefined) delete process.env.LOG_LEVEL; else process.env.LOG_LEVEL = saved; });
  // With LOG_LEVEL set, the background wireguard-go would keep our pipes and die of SIGPIPE after we exit.
  await t.resolves(new WireguardGo({ command: ['sh', '-c', 'test -z "$LOG_LEVEL" && test "$1" = tn7', 'wireguard-go'] }).start('tn7'));
});

t.test('start: a setup process that hangs is killed at the timeout (injected clock)', async (t) => {
  const clock = new FakeClock();
  const pending = new WireguardGo({ command: ['sh', '-c', 'exec sleep 60', 'wireguard-go'], clock, startTimeoutMs: 10000 }).start('tn0');
  const outcome = pending.then(() => 'resolved', (e: Error) => e.message);
  clock.advance(9999);
  t.equal(await Promise.race([outcome, new Promise((r) => setImmediate(() => r('pending')))]), 'pending');
  clock.advance(1);
  t.equal(await outcome, 'wireguard: create tn0: wireguard-go did not finish setup within 10000 ms');
});

/** A fake /proc: entries [pid, argv, state, netns]. */
function fakeProc(t: { teardown(fn: () => unknown): void }, entries: [number, string[], string, string][]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-proc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'self', 'ns'), { recursive: true });
  fs.symlinkSync('net:[1]', path.join(dir, 'self', 'ns', 'net'));
  for (const [pid, argv, state, netns] of entries) {
    const p = path.join(dir, String(pid));
    fs.mkdirSync(path.join(p, 'ns'), { recursive: true });
    fs.writeFileSync(path.join(p, 'cmdline'), `${argv.join('\0')}\0`);
    const fields = [state, ...Array.from({ length: 40 }, (_, i) => (i === 18 ? `${pid}000` : '0'))];
    fs.writeFileSync(path.join(p, 'stat'), `${pid} (wireguard-go) ${fields.join(' ')}\n`);
    fs.symlinkSync(netns, path.join(p, 'ns', 'net'));
  }
  return dir;
}

t.test('find: same name, same namespace, running', async (t) => {
  const procDir = fakeProc(t, [
    [100, ['wireguard-go', 'tn0'], 'S', 'net:[1]'],
    [101, ['wireguard-go', 'tn0'], 'S', 'net:[2]'],
    [102, ['wireguard-go', 'tn0'], 'Z', 'net:[1]'],
    [103, ['wireguard-go', 'tn00'], 'S', 'net:[1]'],
    [104, ['vim', 'tn0'], 'S', 'net:[1]'],
    [105, ['/usr/bin/wireguard-go', '-f', 'tn0'], 'S', 'net:[1]'],
  ]);
  const w = new WireguardGo({ procDir });
  const refs = w.find('tn0');
  t.same(refs, [{ pid: 100, startTime: '100000' }, { pid: 105, startTime: '105000' }]);
  t.ok(w.alive(refs[0]!));
  t.notOk(w.alive({ pid: 100, startTime: '999' }), 'a reused pid (other start time) is not the process');
  t.notOk(w.alive({ pid: 102, startTime: '102000' }), 'a zombie is gone');
  t.notOk(w.alive({ pid: 999, startTime: '1' }), 'a missing pid is gone');
});

const startTimeOf = (pid: number): string => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
};

t.test('stop: SIGTERM, then SIGKILL for a process that ignores it', async (t) => {
  const polite = spawn('sleep', ['60'], { stdio: 'ignore' });
  // The shell ignores TERM and exec keeps it ignored in sleep.
  const stubborn = spawn('sh', ['-c', 'trap "" TERM; exec sleep 60'], { stdio: 'ignore' });
  const pids = [polite.pid!, stubborn.pid!];
  t.teardown(() => { for (const c of [polite, stubborn]) c.kill('SIGKILL'); });
  // Wait (bounded) until the shell has exec'd sleep, so the TERM trap is in place.
  for (let i = 0; i < 2000 && !fs.readFileSync(`/proc/${stubborn.pid}/cmdline`, 'latin1').startsWith('sleep'); i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const w = new WireguardGo({ stopTimeoutMs: 300 });
  const refs = pids.map((pid) => ({ pid, startTime: startTimeOf(pid) }));
  await w.stop(refs);
  t.same(refs.filter((r) => w.alive(r)), [], 'both are gone');
  t.equal(polite.signalCode ?? (await new Promise((r) => polite.once('exit', (_c, s) => r(s)))), 'SIGTERM');
  t.equal(stubborn.signalCode ?? (await new Promise((r) => stubborn.once('exit', (_c, s) => r(s)))), 'SIGKILL');
});

t.test('the inotify ceiling: wireguard-go interfaces beyond fs.inotify.max_user_instances are named before they fail', async (t) => {
  t.equal(wireguardGoCeilingProblem(90, 128), undefined, '90 interfaces fit under 128 with headroom');
  const p = wireguardGoCeilingProblem(200, 128);
  t.match(p, /200 interfaces planned, fs\.inotify\.max_user_instances is 128; want at least 232/, `got ${p}`);
  t.ok(wireguardGoCeilingProblem(97, 128), 'headroom: 97 + 32 > 128');
  t.equal(wireguardGoCeilingProblem(200, null), undefined, 'unreadable sysctl: no claim either way');
  t.equal(wireguardGoCeilingProblem(0, 128), undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-inotify-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'ok'), '128\n');
  fs.writeFileSync(path.join(dir, 'bad'), 'many\n');
  t.equal(readInotifyCeiling(path.join(dir, 'ok')), 128);
  t.equal(readInotifyCeiling(path.join(dir, 'bad')), null, 'garbage reads as unknown');
  t.equal(readInotifyCeiling(path.join(dir, 'missing')), null, 'a missing file reads as unknown');
  t.type(readInotifyCeiling(), 'number', 'this kernel has the sysctl');
});
