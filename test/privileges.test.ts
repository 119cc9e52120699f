// Lab test of issue 15 (least privilege): every daemon on every box runs as
// a user of its own, never root, with exactly the capabilities its systemd
// unit grants (read from systemd/tern-<daemon>.service: User=, Group=,
// SupplementaryGroups=, AmbientCapabilities=) and the directory modes of
// systemd/tern.tmpfiles.conf, the way the image runs them. The lab has no
// systemd and no such users: each unit's user and group becomes a uid and
// gid of the test's own, and setpriv stands in for systemd's User=/Ambient
// handling. What systemd adds on top (mount sandbox, system call filter)
// is the image test's business (test/image.test.ts).
//
// Then the whole system must work as it does as root: every tunnel up,
// every daemon healthy, one PAIR master, conntrack accounting on, probe
// history and PAIR events written to the shared database.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { defaultTopology, discoverDaemons, Lab, repoRoot } from './lab/index.js';
import { busCall, waitFor } from './lab/wait.js';
import { Store } from '../daemons/lib/store/index.js';

const unitsDir = path.join(repoRoot, 'systemd');
const daemons = discoverDaemons();

/** Every value of key in a unit file, split on spaces. */
function values(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].flatMap((m) => m[1]!.trim().split(/\s+/).filter(Boolean));
}

// The units' users and groups, as ids of this test (no system user exists
// on the lab's host): 64500 + n.
const ids = new Map<string, number>();
const id = (name: string): number => {
  if (name === 'root') return 0;
  if (!ids.has(name)) ids.set(name, 64500 + ids.size);
  return ids.get(name)!;
};
const capBits: Record<string, number> = { CAP_NET_BIND_SERVICE: 10, CAP_NET_BROADCAST: 11, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13 };

interface Privileges { user: string; group: string; groups: string[]; caps: string[] }
const privileges = new Map<string, Privileges>(daemons.map((d) => {
  const unit = fs.readFileSync(path.join(unitsDir, `tern-${d}.service`), 'utf8');
  const one = (k: string): string => values(unit, k).at(-1) ?? 'root';
  return [d, { user: one('User'), group: one('Group'), groups: values(unit, 'SupplementaryGroups'), caps: values(unit, 'AmbientCapabilities') }];
}));
const capMask = (caps: string[]): bigint => caps.reduce((m, c) => {
  if (!(c in capBits)) throw new Error(`privileges test: no bit known for ${c}; add it to capBits`);
  return m | (1n << BigInt(capBits[c]!));
}, 0n);

/** The argv that runs a daemon as its unit would: setpriv with the unit's user, groups and capabilities. */
function asUnit(d: string, argv: string[]): string[] {
  const p = privileges.get(d)!;
  const caps = `-all${p.caps.map((c) => `,+${c.replace(/^CAP_/, '').toLowerCase()}`).join('')}`;
  return ['setpriv', `--reuid=${id(p.user)}`, `--regid=${id(p.group)}`, `--groups=${p.groups.map(id).join(',') || id(p.group)}`,
    `--inh-caps=${caps}`, `--ambient-caps=${caps}`, `--bounding-set=${caps}`, '--no-new-privs', ...argv];
}

// ---- the lab, set up like the image's tmpfiles.d ------------------------------------

const lab = await Lab.up(defaultTopology());
t.teardown(() => lab.down());
const boxes = lab.nodes('appliance').map((n) => n.name);

/** tern.tmpfiles.conf's d and Z lines applied to one box's directories. */
function applyTmpfiles(node: string): void {
  const env = lab.applianceEnv(node);
  lab.writeApplianceConfig(node);
  const where: Record<string, string> = {
    '/run/tern': env.TERN_RUN_DIR!, '/var/lib/tern': env.TERN_STATE_DIR!, '/var/lib/tern/keys': path.join(env.TERN_STATE_DIR!, 'keys'),
    '/var/lib/tern/edge': path.join(env.TERN_STATE_DIR!, 'edge'),
    '/etc/tern': env.TERN_ETC_DIR!, '/run/wireguard': path.join(lab.runDir, 'nodes', node, 'wireguard'),
  };
  const lines = [...fs.readFileSync(path.join(unitsDir, 'tern.tmpfiles.conf'), 'utf8').matchAll(/^([dZ])\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/gm)];
  for (const [, type, p, mode, user, group] of lines) {
    const dir = where[p!];
    if (!dir) throw new Error(`privileges test: tmpfiles line for ${p}: no lab directory for it; add it to the map`);
    fs.mkdirSync(dir, { recursive: true });
    const own = (f: string): void => fs.chownSync(f, user === '-' ? fs.statSync(f).uid : id(user!), group === '-' ? fs.statSync(f).gid : id(group!));
    const bits = parseInt(mode!.replace(/^~/, ''), 8);
    if (type === 'd') {
      own(dir);
      fs.chmodSync(dir, bits);
    } else {
      // Z ~MODE: recursively; files without x bits lose them from MODE too.
      const walk = (f: string): void => {
        own(f);
        const st = fs.statSync(f);
        fs.chmodSync(f, st.isDirectory() || (st.mode & 0o111) !== 0 ? bits : bits & ~0o111);
        if (st.isDirectory()) for (const e of fs.readdirSync(f)) walk(path.join(f, e));
      };
      walk(dir);
    }
  }
}

for (const node of boxes) applyTmpfiles(node);

// A stand-in for systemd's LoadCredential= (read as root when the unit
// starts, handed over in $CREDENTIALS_DIRECTORY readable by the unit's user
// alone): paird derives the pair-sync key from the site key, which its unit
// cannot see in the key store. Each unit's credentials are copied, 0400 and
// owned by its user, into a directory of its own.
function loadCredentials(node: string, d: string): Record<string, string> {
  const unit = fs.readFileSync(path.join(unitsDir, `tern-${d}.service`), 'utf8');
  const creds = values(unit, 'LoadCredential');
  if (creds.length === 0) return {};
  const env = lab.applianceEnv(node);
  const dir = path.join(lab.runDir, 'nodes', node, 'credentials', d);
  fs.mkdirSync(dir, { recursive: true });
  const user = id(privileges.get(d)!.user);
  for (const c of creds) {
    const [name, from] = c.split(':') as [string, string];
    const src = from.replace(/^\/var\/lib\/tern\//, `${env.TERN_STATE_DIR!}/`);
    const file = path.join(dir, name);
    fs.copyFileSync(src, file);
    fs.chownSync(file, user, 0);
    fs.chmodSync(file, 0o400);
  }
  fs.chownSync(dir, user, 0);
  fs.chmodSync(dir, 0o500);
  return { CREDENTIALS_DIRECTORY: dir };
}

// A stand-in for udev: Debian's udev (and systemd's static-nodes-permissions
// tmpfiles line) makes /dev/net/tun 0666, as in the image; this host has no
// udev and keeps it 0600. tunneld, and wireguard-go its child, get a 0666
// node of the same device bound over /dev/net/tun in their box's mount
// namespace (TUNSETIFF still takes CAP_NET_ADMIN).
const tun = path.join(lab.runDir, 'net-tun');
if (!fs.existsSync(tun)) execFileSync('mknod', ['-m', '0666', tun, 'c', '10', '200']);
const withTun = (argv: string[]): string[] => ['sh', '-c', 'mount --bind "$0" /dev/net/tun && exec "$@"', tun, ...argv];

for (const node of boxes) {
  const env = lab.applianceEnv(node);
  for (const d of daemons) {
    fs.rmSync(path.join(env.TERN_RUN_DIR!, `${d}.ready`), { force: true });
    const argv = asUnit(d, [process.execPath, path.join(repoRoot, 'dist', 'daemons', d, 'main.js')]);
    lab.spawn(node, d, d === 'tunneld' ? withTun(argv) : argv, { env: { ...env, ...loadCredentials(node, d) } });
  }
}
const sock = (node: string, d: string): string => path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${d}.sock`);
const pidOf = (node: string, d: string): number => Number(fs.readFileSync(path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${d}.pid`), 'utf8'));

t.test('every daemon starts as its unit\'s user with only its unit\'s capabilities', async (t) => {
  for (const node of boxes) {
    for (const d of daemons) {
      await waitFor(`${node} ${d} ready`, () => fs.existsSync(path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${d}.ready`)), { tries: 240, everyMs: 500 });
      const status = fs.readFileSync(`/proc/${pidOf(node, d)}/status`, 'utf8');
      const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
      const p = privileges.get(d)!;
      t.not(p.user, 'root', `${node} ${d}: the unit's User= is root; want a user of its own`);
      t.equal(field('Uid').split(/\s+/)[1], String(id(p.user)), `${node} ${d}: euid got ${field('Uid')}; want ${id(p.user)} (${p.user})`);
      const want = capMask(p.caps);
      for (const k of ['CapEff', 'CapBnd']) {
        t.equal(BigInt(`0x${field(k)}`), want, `${node} ${d}: ${k} got ${field(k)}; want ${want.toString(16)} (${p.caps.join(' ')})`);
      }
    }
  }
});

t.test('the overlay comes up: every path of every box', async (t) => {
  for (const node of boxes) {
    const paths = await waitFor(`${node}: every path up`, async () => {
      const list = await busCall<Array<{ state: string; name?: string }>>(sock(node, 'tunneld'), 'paths.list').catch(() => undefined);
      return list && list.length > 0 && list.every((p) => p.state === 'up') ? list : undefined;
    }, { tries: 240, everyMs: 500 });
    t.ok(paths.length > 0, `${node}: ${paths.length} paths up, tunneld as ${privileges.get('tunneld')!.user}`);
  }
});

t.test('every daemon is healthy', async (t) => {
  for (const node of boxes) {
    for (const d of daemons) {
      let last: unknown;
      const ok = await waitFor(`${node} ${d} health ok`, async () => {
        last = await busCall<{ health: string; warnings: unknown[] }>(sock(node, d), 'daemon.status').catch((e: unknown) => e);
        return (last as { health?: string }).health === 'ok' ? true : undefined;
      }, { tries: 120, everyMs: 500 }).catch(() => false);
      t.ok(ok, `${node} ${d}: health got ${JSON.stringify((last as { health?: string })?.health ?? last)} ${JSON.stringify((last as { warnings?: unknown })?.warnings ?? '')}; want ok`);
    }
  }
});

t.test('PAIR elects one master; conntrack accounting is on (a net sysctl, CAP_NET_ADMIN only)', async (t) => {
  const roles = await waitFor('office pair: one master, one backup', async () => {
    const r = await Promise.all(['office1', 'office2'].map((n) => busCall<{ role: string }>(sock(n, 'paird'), 'pair.status').then((s) => s.role).catch(() => '?')));
    return [...r].sort().join(',') === 'backup,master' ? r : undefined;
  }, { tries: 120, everyMs: 500 });
  t.same([...roles].sort(), ['backup', 'master'], `office1/office2 roles ${roles.join('/')}`);
  // Pair sync's key is derived from the site key, which paird (not tunneld)
  // cannot read in the key store: it comes from the unit's credential.
  for (const n of ['office1', 'office2']) {
    const accepted = await waitFor(`${n}: pair sync accepts the peer's messages`, async () => {
      const s = await busCall<{ sync?: { accepted?: number } }>(sock(n, 'paird'), 'pair.status');
      return (s.sync?.accepted ?? 0) > 0 ? s.sync!.accepted : undefined;
    }, { tries: 120, everyMs: 500 }).catch(() => 0);
    t.ok(accepted > 0, `${n}: pair sync accepted ${accepted} messages as ${privileges.get('paird')!.user}; want some (the site key from the unit's credential)`);
  }
  for (const node of boxes) {
    const acct = (await lab.mustExec(node, ['cat', '/proc/sys/net/netfilter/nf_conntrack_acct'])).trim();
    t.equal(acct, '1', `${node}: nf_conntrack_acct got ${acct}; want 1 (steerd as ${privileges.get('steerd')!.user})`);
  }
});

t.test('the shared database: group-writable, written by probed and paird as their own users', async (t) => {
  for (const node of ['office1', 'office2']) {
    const file = path.join(lab.applianceEnv(node).TERN_STATE_DIR!, 'tern.db');
    const st = fs.statSync(file);
    t.equal(`${(st.mode & 0o777).toString(8)} ${st.gid}`, `660 ${id('tern-state')}`, `${node}: tern.db mode and group got ${(st.mode & 0o777).toString(8)} ${st.gid}; want 660 ${id('tern-state')} (tern-state)`);
    const store = await Store.open(file);
    try {
      const rows = await waitFor(`${node}: probe history and a PAIR event`, async () => {
        const probes = (await store.get<{ n: number }>('SELECT count(*) AS n FROM probe_raw'))?.n ?? 0;
        const events = (await store.get<{ n: number }>("SELECT count(*) AS n FROM events WHERE daemon = 'paird'"))?.n ?? 0;
        return probes > 0 && events > 0 ? { probes, events } : undefined;
      }, { tries: 120, everyMs: 500 });
      t.ok(rows, `${node}: ${rows.probes} probe rows (probed), ${rows.events} PAIR events (paird)`);
    } finally {
      await store.close();
    }
  }
});
