import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Io } from './context.js';
import { runCli } from './program.js';
import { commandTable } from './table.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ternctl-prog-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), NO_COLOR: '1' };

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => { out += s; }, err: (s) => { err += s; }, isTTY: false, stdin: new PassThrough(), stdinIsTTY: true };
  const ac = new AbortController();
  const code = await runCli({ args, env, io, signal: ac.signal });
  return { code, out, err };
}

t.test('usage errors exit 2 with a hint', async (t) => {
  const cases: Array<{ args: string[]; want: RegExp }> = [
    { args: ['frobnicate'], want: /unknown command 'frobnicate'/ },
    { args: ['stauts'], want: /Did you mean status\?/ },
    { args: ['status', '--bogus'], want: /unknown option '--bogus'/ },
    { args: ['config', 'apply'], want: /missing required argument 'file'/ },
    { args: ['ra', 'add'], want: /missing required argument 'name'/ },
    { args: ['report', 'loss', '--site', 'x', '--from', 'yesterday'], want: /--from "yesterday" is not a time\nhint: / },
    { args: ['report', 'loss', '--site', 'x', '--from', 'now', '--to', '1h'], want: /is not before --to/ },
    { args: ['report', 'loss', '--from', '1h'], want: /needs --site, --path or --wan/ },
    { args: ['report', 'loss', '--site', 'x', '--resolution', 'weekly'], want: /Allowed choices are auto, raw, minute, hour/ },
    { args: ['status', '--timeout', 'forever'], want: /--timeout "forever" is not a duration/ },
    { args: ['config'], want: /Usage: ternctl config <command>/ },
    { args: ['config', 'apply', 'a.yaml', '--confirm-within', '10ms'], want: /--confirm-within must be 0/ },
    { args: ['version', 'extra'], want: /too many arguments/ },
    { args: ['completion', 'zsh'], want: /no completion for shell "zsh"/ },
    { args: [], want: /Usage: ternctl <command>/ },
  ];
  for (const c of cases) {
    const r = await run(...c.args);
    t.equal(r.code, 2, `ternctl ${c.args.join(' ')}: got exit ${r.code}; want 2 (stderr: ${r.err})`);
    t.match(r.err, c.want, `ternctl ${c.args.join(' ')}: message`);
  }
});

t.test('--json puts usage errors in the envelope too', async (t) => {
  const r = await run('report', 'loss', '--site', 'x', '--from', 'soon', '--json');
  t.equal(r.code, 2);
  const doc = JSON.parse(r.out) as { ok: boolean; command: string; error: { code: string; exitCode: number; message: string } };
  t.same([doc.ok, doc.command, doc.error.code, doc.error.exitCode], [false, 'report loss', 'TERN_E_CTL_USAGE', 2]);
  const u = await run('nope', '--json');
  t.equal(u.code, 2);
  t.match(JSON.parse(u.out), { ok: false, error: { code: 'TERN_E_CTL_USAGE', message: /unknown command 'nope'/ } });
});

t.test('--help and version exit 0; every command has a summary and examples in its help', async (t) => {
  const h = await run('--help');
  t.equal(h.code, 0);
  t.match(h.out, /Exit codes: 0 ok, 1 failed, 2 usage error, 3 daemon not running\/responding, 4 permission denied/);
  for (const e of commandTable) {
    const r = await run(...e.name.split(' '), '--help');
    t.equal(r.code, 0, `${e.name} --help exits 0`);
    t.ok(e.summary.length > 10 && e.examples.length > 0, `${e.name}: has a summary and examples`);
    t.match(r.out, /Examples:\n {2}/, `${e.name} --help shows examples`);
    t.match(r.out, /--json/, `${e.name} --help lists --json`);
  }
  const v = await run('version', '--json');
  t.equal(v.code, 0);
  t.match(JSON.parse(v.out), { ok: true, command: 'version', data: { tern: String, node: process.versions.node } });
});

t.test('a daemon that is not there: exit 3 and says so, without waiting', async (t) => {
  const r = await run('tunnels');
  t.equal(r.code, 3, `got exit ${r.code}; want 3`);
  t.match(r.err, /tunneld is not running: no socket at .*tunneld\.sock/);
  const j = await run('tunnels', '--json');
  t.match(JSON.parse(j.out), { ok: false, error: { code: 'TERN_E_CTL_DAEMON', exitCode: 3 } });
});

// Issue 15: validate and apply read like the daemons do. Before, a FIFO
// blocked ternctl for good (a synchronous read waiting for a writer).
t.test('validate and apply refuse a FIFO, a device and a file over 1 MiB at once', async (t) => {
  const fifo = path.join(dir, 'fifo.yaml');
  const made = spawnSync('mkfifo', [fifo]);
  t.equal(made.status, 0, `mkfifo: got ${made.status}; want 0`);
  const big = path.join(dir, 'big.yaml');
  fs.writeFileSync(big, `version: 1\n# ${'x'.repeat(1024 * 1024)}\n`);
  const cases: Array<[string[], RegExp]> = [
    [['config', 'validate', fifo], /config: read .*fifo\.yaml: is a FIFO \(named pipe\)/],
    [['config', 'validate', '/dev/zero'], /config: read \/dev\/zero: is a character device/],
    [['config', 'validate', big], /config: read .*big\.yaml: [0-9]+ bytes, over the limit/],
    [['config', 'apply', fifo], /is a FIFO \(named pipe\)/],
  ];
  for (const [args, want] of cases) {
    const r = await run(...args, '--json');
    const doc = JSON.parse(r.out || '{}') as { error?: { code?: string; message?: string } };
    t.equal(r.code, 1, `${args.join(' ')}: got exit ${r.code}; want 1`);
    t.ok(doc.error?.code === 'TERN_E_CONFIG_READ' && want.test(doc.error.message ?? ''),
      `${args.join(' ')}: got ${JSON.stringify(doc.error)}; want TERN_E_CONFIG_READ matching ${want}`);
  }
});

t.test('a broken config file given to validate: exit 1, errors by key path and line', async (t) => {
  const f = path.join(dir, 'bad.yaml');
  fs.writeFileSync(f, 'version: 1\nidentity:\n  site: x\n  name: y\nwans: []\nfoo: 1\n');
  const r = await run('config', 'validate', f);
  t.equal(r.code, 1);
  t.match(r.err, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: foo: unknown key 'foo'`));
  t.match(r.err, /:5: wans: must list at least 1 item/);
  const j = await run('config', 'validate', f, '--json');
  const doc = JSON.parse(j.out) as { error: { code: string; details: { errors: Array<{ path: string; line: number }> } } };
  t.equal(doc.error.code, 'TERN_E_CONFIG_KEY');
  t.ok(doc.error.details.errors.some((e) => e.path === 'foo' && e.line === 6), 'details carry path and line');
});
