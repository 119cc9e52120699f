// The systemd units: every daemon has one, systemd-analyze verify accepts
// them all, and each stays well locked down (systemd-analyze security).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from './lab/index.js';

const dir = path.join(repoRoot, 'systemd');

t.test('every daemon has a unit that runs it, Type=notify with a watchdog', async (t) => {
  const daemons = fs.readdirSync(path.join(repoRoot, 'daemons'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(repoRoot, 'daemons', d.name, 'main.ts')) && d.name !== 'ctl')
    .map((d) => d.name);
  t.ok(daemons.includes('tunneld'), `found daemons ${daemons.join(', ')}`);
  const target = fs.readFileSync(path.join(dir, 'tern.target'), 'utf8');
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
    // The runner hands its bus socket to group tern (0660); without CAP_CHOWN
    // that needs the group among the process's own (found in the booted image).
    if (/^User=root$/m.test(unit) && !/CAP_CHOWN/.test(unit)) t.match(unit, /^SupplementaryGroups=tern$/m, `${d}: in group tern, to chown its socket`);
    for (const m of unit.matchAll(/^ReadWritePaths=(.*)$/gm)) {
      for (const p of m[1]!.split(/\s+/)) {
        const plain = p.replace(/^-/, '');
        t.ok(p.startsWith('-') || /^\/(run\/tern|var\/lib\/tern)$/.test(plain),
          `${d}: ReadWritePaths ${p}: a path no tmpfiles line guarantees must be optional (-), or the unit fails with 226/NAMESPACE`);
      }
    }
  }
});

t.test('systemd-analyze verify passes and exposure stays low', async (t) => {
  const r = spawnSync('bash', [path.join(dir, 'check.sh')], { encoding: 'utf8' });
  t.equal(r.status, 0, `check.sh exit ${r.status}: ${r.stdout}${r.stderr}`);
  t.match(r.stdout, /^verify: ok/m);
  const rows = [...r.stdout.matchAll(/^(tern-\S+\.service)\s+([0-9.]+)/gm)];
  t.ok(rows.length >= 2, `got ${rows.length} exposure rows`);
  for (const [, unit, level] of rows) {
    t.ok(Number(level) <= 4, `${unit}: exposure ${level}; want <= 4 (systemd's "OK" band is below 5)`);
  }
  t.comment(r.stdout);
});
