// The systemd units: every daemon has one, systemd-analyze verify accepts
// them all, and each stays well locked down (systemd-analyze security):
// its own user, only the capabilities it needs, the site's private keys
// out of sight of everything but tunneld, and resource limits (issue 15).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from './lab/index.js';

const dir = path.join(repoRoot, 'systemd');
const keysDir = '/var/lib/tern/keys';

// Programs with a main.ts that are not daemons (no bus socket, no sd_notify): ternctl and the exporter.
const programs = new Set(['ctl', 'exporter']);
const daemons = fs.readdirSync(path.join(repoRoot, 'daemons'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(repoRoot, 'daemons', d.name, 'main.ts')) && !programs.has(d.name))
  .map((d) => d.name);
const services = fs.readdirSync(dir).filter((f) => f.endsWith('.service')).sort();

/** Every value of key in a unit file (a key may repeat), split on spaces. */
function values(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].flatMap((m) => m[1]!.trim().split(/\s+/).filter(Boolean));
}
const one = (unit: string, key: string): string | undefined => values(unit, key).at(-1);
const read = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');

// What tern.sysusers.conf and tern.tmpfiles.conf make.
const sysusers = read('tern.sysusers.conf');
const users = new Set([...sysusers.matchAll(/^u\s+(\S+)\s+(\S+)/gm)].map((m) => m[1]!));
const groups = new Set([...sysusers.matchAll(/^g\s+(\S+)/gm)].map((m) => m[1]!));
const tmpfiles = [...read('tern.tmpfiles.conf').matchAll(/^([dDZz])\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/gm)]
  .map((m) => ({ type: m[1]!, path: m[2]!, mode: m[3]!, user: m[4]!, group: m[5]! }));
const made = new Set(tmpfiles.filter((l) => l.type === 'd').map((l) => l.path));

t.test('every daemon has a unit that runs it, Type=notify with a watchdog', async (t) => {
  t.ok(daemons.includes('tunneld'), `found daemons ${daemons.join(', ')}`);
  const target = read('tern.target');
  for (const d of daemons) {
    const file = path.join(dir, `tern-${d}.service`);
    t.ok(fs.existsSync(file), `tern-${d}.service exists`);
    if (!fs.existsSync(file)) continue;
    const unit = fs.readFileSync(file, 'utf8');
    t.match(unit, new RegExp(`^ExecStart=/usr/bin/node /usr/lib/tern/dist/daemons/${d}/main\\.js$`, 'm'), `${d}: ExecStart`);
    t.match(unit, /^Type=notify$/m, `${d}: Type=notify`);
    t.match(unit, /^WatchdogSec=\d+s$/m, `${d}: WatchdogSec`);
    t.match(unit, /^Restart=on-failure$/m, `${d}: Restart=on-failure`);
    t.match(unit, /^PartOf=tern\.target$/m, `${d}: part of tern.target`);
    t.match(target, new RegExp(`tern-${d}\\.service`), `tern.target wants tern-${d}.service`);
    t.match(unit, /^StartLimitBurst=\d+$/m, `${d}: a start limit, so a daemon that cannot start does not loop forever`);
    for (const p of values(unit, 'ReadWritePaths')) {
      t.ok(p.startsWith('-') || made.has(p),
        `${d}: ReadWritePaths ${p}: a path no tmpfiles d line makes must be optional (-), or the unit fails with 226/NAMESPACE`);
    }
  }
});

t.test('every unit runs a program that exists (issue 16: the exporter has its own program)', async (t) => {
  const want: Record<string, string> = {
    'tern-exporter.service': 'daemons/exporter/main.js',
    'tern-config-rollback.service': 'daemons/ctl/main.js',
    'tern-networkd.service': 'daemons/ctl/main.js',
  };
  for (const s of services) {
    for (const exec of values(read(s), 'ExecStart').filter((v) => v.startsWith('/usr/lib/tern/dist/'))) {
      const js = exec.slice('/usr/lib/tern/dist/'.length);
      const source = path.join(repoRoot, js.replace(/\.js$/, '.ts'));
      t.ok(fs.existsSync(source), `${s}: ExecStart runs ${js}: got ${fs.existsSync(source) ? '' : 'no '}${path.relative(repoRoot, source)}; want the source to exist`);
    }
  }
  for (const [s, js] of Object.entries(want)) {
    t.ok(values(read(s), 'ExecStart').includes(`/usr/lib/tern/dist/${js}`), `${s}: got ExecStart ${values(read(s), 'ExecStart').join(' ')}; want /usr/lib/tern/dist/${js}`);
  }
});

t.test('each daemon runs as its own user with only its unit\'s capabilities', async (t) => {
  const seen = new Set<string>();
  for (const d of daemons) {
    const unit = read(`tern-${d}.service`);
    const user = one(unit, 'User');
    t.equal(user, `tern-${d}`, `${d}: User got ${user}; want tern-${d}`);
    t.ok(user && users.has(user), `${d}: user ${user} made by tern.sysusers.conf (has ${[...users].join(', ')})`);
    t.notOk(user && seen.has(user), `${d}: user ${user} shared with another daemon`);
    if (user) seen.add(user);
    // The bus socket must be born in group tern: the unit allows no chown.
    t.equal(one(unit, 'Group'), 'tern', `${d}: Group got ${one(unit, 'Group')}; want tern (the socket's group, no chown needed)`);
    t.ok(values(unit, 'SystemCallFilter').includes('~@privileged'), `${d}: SystemCallFilter ~@privileged (no chown, no setuid)`);
    for (const g of values(unit, 'SupplementaryGroups')) t.ok(groups.has(g), `${d}: supplementary group ${g} made by tern.sysusers.conf`);
    t.ok(values(unit, 'SupplementaryGroups').includes('tern-run'), `${d}: in tern-run, to make its socket in /run/tern`);
    const bounding = values(unit, 'CapabilityBoundingSet');
    const ambient = values(unit, 'AmbientCapabilities');
    t.ok(bounding.length > 0, `${d}: a CapabilityBoundingSet`);
    t.same([...ambient].sort(), [...bounding].sort(), `${d}: AmbientCapabilities ${ambient.join(' ')}; want the bounding set ${bounding.join(' ')} (a non-root daemon has only its ambient set)`);
    for (const c of ['CAP_SYS_ADMIN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_CHOWN', 'CAP_SETUID', 'CAP_SYS_PTRACE']) {
      t.notOk(bounding.includes(c), `${d}: bounding set holds ${c}`);
    }
  }
});

t.test('the keys are tunneld\'s: no other unit can see them', async (t) => {
  const hides = (unit: string): string | undefined => values(unit, 'InaccessiblePaths')
    .map((p) => p.replace(/^-/, ''))
    .find((p) => keysDir === p || keysDir.startsWith(`${p}/`));
  for (const s of services) {
    const unit = read(s);
    if (s === 'tern-tunneld.service') {
      t.notOk(hides(unit), `${s}: keys hidden from tunneld itself`);
      t.ok(values(unit, 'ReadWritePaths').includes(keysDir), `${s}: ${keysDir} writable (it makes the site key on first start)`);
      continue;
    }
    const h = hides(unit);
    t.ok(h, `${s}: InaccessiblePaths covers ${keysDir}: got ${values(unit, 'InaccessiblePaths').join(' ') || 'none'}; want ${keysDir} or a parent`);
  }
  const keys = tmpfiles.find((l) => l.type === 'd' && l.path === keysDir);
  t.same(keys && [keys.mode, keys.user], ['0700', 'tern-tunneld'], `tmpfiles: ${keysDir} got ${keys ? `${keys.mode} ${keys.user}` : 'no d line'}; want 0700 tern-tunneld`);
  t.ok(tmpfiles.some((l) => l.type === 'Z' && l.path === keysDir && l.user === 'tern-tunneld'), `tmpfiles: a Z line gives ${keysDir}'s contents to tern-tunneld`);
});

t.test('every long-running unit has memory, task and file limits', async (t) => {
  for (const s of services) {
    const unit = read(s);
    if (one(unit, 'Type') === 'oneshot') continue;
    for (const [key, re] of [['MemoryMax', /^\d+[KMG]$/], ['TasksMax', /^\d+$/], ['LimitNOFILE', /^\d+$/]] as const) {
      const v = one(unit, key);
      t.match(v ?? '', re, `${s}: ${key} got ${v ?? 'none'}; want a finite limit`);
    }
  }
});

t.test('systemd-analyze verify passes and exposure stays low', async (t) => {
  const r = spawnSync('bash', [path.join(dir, 'check.sh')], { encoding: 'utf8' });
  t.equal(r.status, 0, `check.sh exit ${r.status}: ${r.stdout}${r.stderr}`);
  t.match(r.stdout, /^verify: ok/m);
  const rows = [...r.stdout.matchAll(/^(tern-\S+\.service)\s+([0-9.]+)/gm)];
  t.equal(rows.length, services.length, `got ${rows.length} exposure rows; want one per unit (${services.length})`);
  for (const [, unit, level] of rows) {
    t.ok(Number(level) <= 3.0, `${unit}: exposure ${level}; want <= 3.0`);
  }
  // The table the issue asks for: unit, user, capabilities, exposure, limits.
  const exposure = new Map(rows.map((m) => [m[1]!, m[2]!]));
  const line = (cols: string[]): string => cols.map((c, i) => c.padEnd([24, 15, 50, 9, 0][i] ?? 0)).join(' ').trimEnd();
  const table = [line(['unit', 'user', 'capabilities', 'exposure', 'MemoryMax/TasksMax/LimitNOFILE'])];
  for (const s of services) {
    const unit = read(s);
    const user = one(unit, 'DynamicUser') === 'yes' ? 'dynamic' : one(unit, 'User') ?? 'root';
    const caps = values(unit, 'AmbientCapabilities').join(' ') || (user === 'root' ? `(root) ${values(unit, 'CapabilityBoundingSet').join(' ')}` : '-');
    const limits = ['MemoryMax', 'TasksMax', 'LimitNOFILE'].map((k) => one(unit, k) ?? '-').join('/');
    table.push(line([s, user, caps.replace(/CAP_/g, ''), exposure.get(s) ?? '?', limits]));
  }
  t.comment(`\n${r.stdout}\n${table.join('\n')}`);
});
