// tunneld benchmark: a hub with N peer sites (default 200), one WAN each:
// time for tunneld's reconciler to build everything from empty, to apply a
// one-peer change, and to re-check an unchanged state, with the process's
// RSS — against the baseline of the same interfaces built by hand with
// wireguard-go, `wg setconf`, `ip address` and `ip route`, measured in the
// same run in a namespace of its own. It reports; it never fails on time.
import { spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../daemons/lib/config/index.js';
import { Rtnl, createWireGuardBackend, generatePrivateKey, publicKeyOf } from '../../daemons/lib/kernel/index.js';
import { silentLogger } from '../../daemons/lib/log/index.js';
import { desiredState } from '../../daemons/tunneld/desired.js';
import { reconcile } from '../../daemons/tunneld/reconcile.js';

const N = Number(process.env.BENCH_PEERS ?? 200);
const self = fileURLToPath(import.meta.url);

function hubConfig(keys: string[], extra = ''): string {
  const sites = keys.map((k, i) => [
    `    - id: s${i + 2}`,
    `      publicKey: ${k}`,
    `      overlayAddress: 100.64.${(i + 2) >> 8}.${(i + 2) & 255}`,
    `      lanPrefixes: [10.${100 + ((i + 2) >> 8)}.${(i + 2) & 255}.0/24]`,
    '      wans:',
    `        - {name: inet, endpoint: "198.18.${(i + 2) >> 8}.${(i + 2) & 255}:40000"${i === 0 ? extra : ''}}`,
  ].join('\n'));
  return [
    'version: 1',
    'identity: {site: hub, name: hub1}',
    'wans:',
    '  - {name: inet, interface: wan0, address: 198.18.200.2/24, gateway: 198.18.200.1}',
    'lan: {interface: lan0, address: 10.99.0.1/24, prefixes: [10.99.0.0/24]}',
    'overlay:',
    '  topology: hub-spoke',
    '  hub: hub',
    '  listenPort: 40000',
    '  address: 100.64.0.1/16',
    '  sites:',
    ...sites,
  ].join('\n') + '\n';
}

const rss = (): number => process.memoryUsage().rss / 1048576;
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/** Runs inside the namespace: Tern's reconciler. Prints one JSON line. */
async function tern(): Promise<void> {
  execFileSync('ip', ['link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan0p']);
  execFileSync('ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0p']);
  execFileSync('ip', ['address', 'add', '198.18.200.2/24', 'dev', 'wan0']);
  execFileSync('ip', ['address', 'add', '10.99.0.1/24', 'dev', 'lan0']);
  execFileSync('ip', ['link', 'set', 'wan0', 'up']);
  execFileSync('ip', ['link', 'set', 'lan0', 'up']);
  const keys = Array.from({ length: N }, () => publicKeyOf(generatePrivateKey()));
  const privateKey = generatePrivateKey();
  const rtnl = new Rtnl();
  const wg = await createWireGuardBackend({ prefix: 'tn', rtnl });
  const inputs = (text: string) => ({ config: parseConfig(text).config, privateKey, presharedKeys: new Map(), userPresharedKeys: new Map(), resolved: new Map(), upPaths: new Set<string>() });
  const rss0 = rss();
  let t0 = process.hrtime.bigint();
  const r1 = await reconcile(desiredState(inputs(hubConfig(keys))), { rtnl, wg, logger: silentLogger() });
  const fromEmpty = ms(t0);
  t0 = process.hrtime.bigint();
  const r2 = await reconcile(desiredState(inputs(hubConfig(keys))), { rtnl, wg, logger: silentLogger() });
  const unchanged = ms(t0);
  const changedKeys = [...keys];
  changedKeys[N - 1] = publicKeyOf(generatePrivateKey());
  t0 = process.hrtime.bigint();
  const r3 = await reconcile(desiredState(inputs(hubConfig(changedKeys))), { rtnl, wg, logger: silentLogger() });
  const onePeer = ms(t0);
  const out = {
    fromEmpty, unchanged, onePeer, rssMiB: rss(), rssGrowthMiB: rss() - rss0,
    created: r1.created.length, errors: r1.errors.length + r2.errors.length + r3.errors.length,
    changedSecondPass: Object.keys(r2.configured).length, changedOnePeer: Object.keys(r3.configured).length,
  };
  for (const name of await wg.list()) await wg.destroy(name);
  wg.close();
  rtnl.close();
  console.log(JSON.stringify(out));
}

/** Runs inside the namespace: the same state built with the stock tools. */
function baseline(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bench-wg-'));
  const sh = (cmd: string): void => { execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] }); };
  const privateKey = generatePrivateKey();
  fs.writeFileSync(path.join(dir, 'key'), privateKey, { mode: 0o600 });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const n = i + 2;
    const name = `wb${n}`;
    const conf = path.join(dir, `${name}.conf`);
    fs.writeFileSync(conf, [
      '[Interface]', `PrivateKey = ${privateKey}`, `ListenPort = ${40000 + 16 * n}`, '',
      '[Peer]', `PublicKey = ${publicKeyOf(generatePrivateKey())}`, `Endpoint = 198.18.${n >> 8}.${n & 255}:40000`,
      `AllowedIPs = 100.64.${n >> 8}.${n & 255}/32, 10.${100 + (n >> 8)}.${n & 255}.0/24, fe80::/64`, 'PersistentKeepalive = 25', '',
    ].join('\n'));
    sh(`wireguard-go ${name} && wg setconf ${name} ${conf} && ip address add 100.64.0.1/32 dev ${name} && ip link set ${name} up`
      + ` && ip route add 10.${100 + (n >> 8)}.${n & 255}.0/24 dev ${name} table ${10000 + 16 * n}`
      + ` && ip route add 10.${100 + (n >> 8)}.${n & 255}.0/24 dev ${name} metric 50`);
  }
  const fromEmpty = ms(t0);
  const t1 = process.hrtime.bigint();
  sh(`wg setconf wb${N + 1} ${path.join(dir, `wb${N + 1}.conf`)}`);
  const onePeer = ms(t1);
  for (let i = 0; i < N; i++) spawnSync('ip', ['link', 'del', `wb${i + 2}`]);
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ fromEmpty, onePeer }));
}

function inNamespace(role: string): Record<string, number> {
  const ns = `tb${process.pid.toString(16)}${role[0]}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const r = spawnSync('ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs tmpfs /run/wireguard && exec "$@"', 'sh', process.execPath, self, role], { encoding: 'utf8', env: { ...process.env, BENCH_PEERS: String(N) } });
    if (r.status !== 0) throw new Error(`bench: ${role}: exit ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
  } finally {
    // wireguard-go processes left by a failed run would keep the namespace alive.
    for (const pid of spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

const role = process.argv[2];
if (role === 'tern') await tern();
else if (role === 'baseline') baseline();
else {
  fs.mkdirSync('/run/wireguard', { recursive: true });
  // wireguard-go holds one inotify instance per interface (it watches its
  // UAPI socket); the kernel's default ceiling of 128 per user stops the
  // 129th interface, for the baseline and Tern alike. Raise it for the run
  // (as the appliance's sysctl.d does for the userspace fallback), restore after.
  const inotify = '/proc/sys/fs/inotify/max_user_instances';
  const inotifyBefore = Number(fs.readFileSync(inotify, 'utf8'));
  if (inotifyBefore < 2 * N + 256) fs.writeFileSync(inotify, String(2 * N + 256));
  let b: Record<string, number>;
  let t: Record<string, number>;
  try {
    b = inNamespace('baseline');
    t = inNamespace('tern');
  } finally {
    fs.writeFileSync(inotify, String(inotifyBefore));
  }
  const f = (x: number): string => `${(x / 1000).toFixed(2)} s`;
  console.log(`hub with ${N} peer sites (one tunnel each, wireguard-go):`);
  console.log(`  from empty:   tern ${f(t.fromEmpty!)}  vs wireguard-go + wg setconf + ip by hand ${f(b.fromEmpty!)}  (${(t.fromEmpty! / b.fromEmpty!).toFixed(2)}x)`);
  console.log(`  one peer:     tern ${t.onePeer!.toFixed(0)} ms (whole reconcile, ${t.changedOnePeer} interface changed)  vs wg setconf of one interface ${b.onePeer!.toFixed(0)} ms`);
  console.log(`  unchanged:    tern ${t.unchanged!.toFixed(0)} ms, ${t.changedSecondPass} interfaces changed (want 0)`);
  console.log(`  tunneld RSS:  ${t.rssMiB!.toFixed(0)} MiB (+${t.rssGrowthMiB!.toFixed(0)} MiB for the reconcile); created ${t.created}, errors ${t.errors}`);
}
