// Lab test of ternctl: the real CLI, inside an appliance's namespace, against
// the real daemons of the default topology — status and paths, a loss report
// of a run with injected loss (rendered to PNG and checked), the metrics
// exporter, config apply with and without confirm, remote access end to end,
// a diagnostics bundle without secrets, and what ternctl says when a daemon
// is stopped, stuck, or the user has no rights.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { decodePng, colourBox, blend, inkedPixels } from '../daemons/ctl/report/png.js';
import { lossFillOpacity, lossPanel, palette } from '../daemons/ctl/report/svg.js';
import { defaultTopology, discoverDaemons, Lab, pingOne, repoRoot } from './lab/index.js';
import { waitForHistory, waitForProbes } from './lab/probed.js';
import { patience, sleep, waitFor } from './lab/wait.js';

const main = path.join(repoRoot, 'dist', 'daemons', 'ctl', 'main.js');
const exporterMain = path.join(repoRoot, 'dist', 'daemons', 'exporter', 'main.js');
/** Where the rendered report is kept for a reviewer (make test clears it first). */
const outDir = path.join(repoRoot, '.test-out', 'ternctl');
const box = 'office1';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

// The whole story takes minutes of real time on a loaded machine: ask the runner for 30.
t.setTimeout(1_800_000);
t.comment('timeout=1800000');

const lab = await Lab.up(defaultTopology());
t.teardown(() => lab.down());
for (const n of lab.nodes('appliance')) lab.writeApplianceConfig(n.name);
const env = lab.applianceEnv(box);
const logDir = path.join(lab.runDir, 'logs');
// tunneld and probed everywhere (paths and their health), paird on both
// office boxes (a real PAIR role to show), qosd on office1. steerd is left
// out: what it does to traffic is its own lab test's business, not ternctl's.
const plan: Record<string, string[]> = { office1: ['tunneld', 'probed', 'paird', 'qosd'], office2: ['tunneld', 'probed', 'paird'], home1: ['tunneld', 'probed'], cloud1: ['tunneld', 'probed'] };
const built = new Set(discoverDaemons());
const startDaemon = (node: string, name: string): void => {
  lab.spawn(node, name, [process.execPath, path.join(repoRoot, 'dist', 'daemons', name, 'main.js')], { env: lab.applianceEnv(node) });
};
for (const [node, names] of Object.entries(plan)) for (const name of names) if (built.has(name)) startDaemon(node, name);

interface Ran { code: number | null; out: string; err: string; timedOut: boolean }

/** ternctl in the appliance's namespace with its paths; as root unless `as` names a uid. */
async function ctl(args: string[], opts: { node?: string; as?: number; timeoutMs?: number; input?: string } = {}): Promise<Ran> {
  const node = opts.node ?? box;
  // Patient unless the test is about timeouts: the machine is shared and often loaded.
  const patient = args.includes('--timeout') ? args : [...args, '--timeout', '20s'];
  const argv = [...(opts.as !== undefined ? ['setpriv', `--reuid=${opts.as}`, `--regid=${opts.as}`, '--clear-groups'] : []), process.execPath, main, ...patient];
  // NODE_OPTIONS cleared: tap's hooks in it would write to its own directory, which nobody may not.
  const r = await lab.exec(node, argv, { env: { ...lab.applianceEnv(node), TERN_LOG_DIR: logDir, NO_COLOR: '1', COLUMNS: '120', NODE_OPTIONS: '' }, timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { code: r.code, out: r.stdout, err: r.stderr, timedOut: r.timedOut };
}

async function ctlJson<T>(args: string[], opts: { node?: string } = {}): Promise<{ code: number | null; doc: { ok: boolean; data: T; error?: { code: string; message: string } } }> {
  const r = await ctl([...args, '--json'], opts);
  try {
    return { code: r.code, doc: JSON.parse(r.out) };
  } catch {
    throw new Error(`ternctl ${args.join(' ')}: not JSON (exit ${r.code}): ${r.out} ${r.err}`);
  }
}

interface PathRow { name: string; site: string; tunnel: string | null; health: string | null; lossPct: number | null; rttMs: number | null }
interface DaemonRow { daemon: string; state: string; installed: boolean; configHash: string | null; reason: string | null }

const daemonsOf = async (): Promise<DaemonRow[]> => (await ctlJson<{ daemons: DaemonRow[] }>(['status'])).doc.data.daemons;

/** Every running daemon runs the config file's text: their configHash is its sha256. */
async function consistent(t: Test, want: string, what: string): Promise<void> {
  const file = fs.readFileSync(env.TERN_CONFIG!, 'utf8');
  t.equal(sha256(file), want, `${what}: the file is the expected version`);
  const running = (await daemonsOf()).filter((d) => d.state === 'running');
  t.ok(running.some((d) => d.daemon === 'tunneld'), `${what}: tunneld runs`);
  for (const d of running) t.equal(d.configHash, want, `${what}: ${d.daemon} runs config ${d.configHash?.slice(0, 12)}; want ${want.slice(0, 12)}`);
}

// No assertion before the subtests: tap would take the root test as done and tear the lab down.
if (!built.has('tunneld') || !built.has('probed')) throw new Error(`ternctl.test: want tunneld and probed built under dist/daemons; found ${[...built].join(', ')}`);

// Both daemons the tests lean on must be up everywhere before anything else.
for (const n of lab.nodes('appliance')) {
  for (const d of ['tunneld', 'probed']) {
    // Patient: many node processes start at once on a shared machine.
    await waitFor(`${n.name} ${d} ready`, () => fs.existsSync(path.join(lab.applianceEnv(n.name).TERN_RUN_DIR!, `${d}.ready`)), patience(40_000, 500));
  }
}

t.test('status and paths: the appliance on one screen, every path up in tunnel and probe', async (t) => {
  const rows = await waitFor('office1: every path up in tunneld and probed', async () => {
    const r = await ctlJson<{ paths: PathRow[] }>(['paths']);
    const ps = r.doc.data.paths;
    return ps.length === 3 && ps.every((p) => p.tunnel === 'up' && p.health === 'up' && p.rttMs !== null) ? ps : undefined;
  }, patience(10_000, 500));
  t.same(rows.map((p) => p.name).sort(), ['ispa/cloud/ispc', 'ispa/home/ispa', 'ispa/home/ispd']);
  const s = await ctl(['status']);
  t.comment(`ternctl status on office1:\n${s.out}`);
  t.match(s.out, /^office1 \(site office\)/, 'identity first');
  t.match(s.out, /WANs\n.*\n {2}ispa +wan0 +198\.18\.1\.2\/30 +up /, 'the WAN with its health');
  t.match(s.out, /cloud +ispa\/cloud\/ispc +up +up /, 'paths with tunnel and probe state');
  t.match(s.out, /PAIR: /);
  t.match(s.out, /QoS: /);
  t.match(s.out, /tunneld +running +\d+/);
  t.match(s.out, /probed +running +\d+/);
  const j = await ctlJson<{ identity: { name: string }; daemons: DaemonRow[]; config: { hash: string } }>(['status']);
  t.equal(j.doc.data.identity.name, 'office1');
  t.equal(j.doc.data.config.hash, sha256(fs.readFileSync(env.TERN_CONFIG!, 'utf8')));
  const tun = await ctl(['tunnels']);
  t.equal(tun.code, 0, tun.err);
  t.match(tun.out, /tn1-3-00 .* up .*198\.18\.3\.2:\d+/, 'the tunnel to the cloud with its endpoint');
});

t.test('report loss: a run with injected loss, as SVG and HTML, rendered to PNG', async (t) => {
  const before = Date.now();
  // Loss towards the cloud box: office1's probes to the cloud lose on the way out.
  // The run's parts are counted in probes of that path (5/s): 50 clean
  // (10 s), 150 with the loss (30 s), 50 clean again.
  const probed = path.join(env.TERN_RUN_DIR!, 'probed.sock');
  const cloudPath = 'ispa/cloud/ispc';
  const impair = lab.impair('ispc:cloud1');
  await waitForProbes(probed, [cloudPath], 50);
  const lossFrom = Date.now();
  await impair.loss(25);
  await waitForProbes(probed, [cloudPath], 150);
  await impair.clear();
  const lossTo = Date.now();
  await waitForProbes(probed, [cloudPath], 50);
  // Every probe of the run final (the last losses' gaps closed) before the report reads it.
  await waitForHistory(probed, [cloudPath], Math.floor(Date.now() / 1000) * 1000);
  fs.mkdirSync(outDir, { recursive: true });
  const svg = path.join(outDir, 'loss-report.svg');
  const html = path.join(outDir, 'loss-report.html');
  const args = ['report', 'loss', '--site', 'cloud', '--from', `@${Math.floor(before / 1000)}`, '--to', 'now', '--svg', svg, '--html', html, '--title', 'Packet loss office1 → cloud (lab: 25 % injected at ispc)'];
  const text = await ctl(args);
  t.equal(text.code, 0, text.err);
  t.comment(`ternctl ${args.join(' ')}:\n${text.out}`);
  t.match(text.out, /^ispa\/cloud\/ispc +[·▁-█ ]+$/mu, 'a terminal bar per path');
  const r = await ctlJson<{ from: number; to: number; source: string; series: Array<{ subject: string; totals: { sent: number; lost: number; lossPct: number } }>; events: Array<{ kind: string; subject: string; ts: number }> }>(args.slice(0, 8));
  t.equal(r.doc.data.source, 'probed', 'numbers from the running probed');
  const cloud = r.doc.data.series.find((x) => x.subject === 'ispa/cloud/ispc')!;
  const expected = 25 * (lossTo - lossFrom) / (r.doc.data.to - r.doc.data.from);
  t.ok(cloud.totals.sent > 200, `probes sent: ${cloud.totals.sent}`);
  t.ok(cloud.totals.lossPct > expected / 3 && cloud.totals.lossPct < expected * 3, `loss over the range ${cloud.totals.lossPct.toFixed(1)}%; want about ${expected.toFixed(1)}% (25% for ${((lossTo - lossFrom) / 1000).toFixed(0)} s of ${((r.doc.data.to - r.doc.data.from) / 1000).toFixed(0)})`);
  const degraded = r.doc.data.events.filter((e) => e.kind === 'path.state' && e.subject === 'ispa/cloud/ispc');
  t.ok(degraded.length >= 1, `path state changes are marked as events (${degraded.length})`);
  t.ok(degraded.every((e) => e.ts >= lossFrom - 2000), 'and they come with the loss');

  const png = path.join(outDir, 'loss-report.png');
  const conv = await lab.exec(box, ['rsvg-convert', '-o', png, svg]);
  t.equal(conv.code, 0, `rsvg-convert: ${conv.stderr}`);
  const declared = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(fs.readFileSync(svg, 'utf8'))!;
  const img = decodePng(fs.readFileSync(png));
  t.same([img.width, img.height], [Number(declared[1]), Number(declared[2])], `PNG ${img.width}x${img.height}: the size the SVG declares`);
  t.ok(inkedPixels(img) > 20_000, `${inkedPixels(img)} drawn pixels: a chart, not a blank page`);
  const area = colourBox(img, blend(palette[0]!, lossFillOpacity), 4, lossPanel);
  t.ok(area && area.count > 500, `the loss of ispa/cloud/ispc is drawn as a shaded area (${area?.count ?? 0} pixels)`);
  // Where the chart puts a time: the range the SVG states in its subtitle (local time, to the second).
  const range = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) → (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(fs.readFileSync(svg, 'utf8'))!;
  const [svgFrom, svgTo] = [Date.parse(range[1]!.replace(' ', 'T')), Date.parse(range[2]!.replace(' ', 'T'))];
  const x = (ms: number): number => lossPanel.x + ((ms - svgFrom) / (svgTo - svgFrom)) * lossPanel.width;
  t.ok(area && area.x0 >= x(lossFrom) - 30 && area.x1 <= x(lossTo) + 30, `the shaded loss sits where the loss was injected (x ${area?.x0}-${area?.x1}; want within ${x(lossFrom).toFixed(0)}-${x(lossTo).toFixed(0)})`);
  t.ok(fs.readFileSync(html, 'utf8').includes('<svg'), 'the HTML report carries the chart inline');
  t.comment(`loss report for a reviewer: ${png} (also ${svg}, ${html}); open the PNG in any image viewer or the HTML in a browser`);
});

t.test('exporter: Prometheus metrics on 127.0.0.1, scraped from inside the appliance', async (t) => {
  lab.spawn(box, 'exporter', [process.execPath, exporterMain], { env: { ...env } });
  t.teardown(() => lab.kill(box, 'exporter').then(() => undefined));
  const text = await waitFor('the exporter answers', async () => {
    const r = await lab.exec(box, ['curl', '-sf', '--max-time', '30', 'http://127.0.0.1:9273/metrics']);
    return r.code === 0 ? r.stdout : undefined;
  }, patience(5000, 500));
  for (const want of [
    /^tern_daemon_up\{daemon="tunneld",installed="true"\} 1$/m,
    /^tern_daemon_up\{daemon="probed",installed="true"\} 1$/m,
    /^tern_path_tunnel_up\{path="ispa\/cloud\/ispc",site="cloud",local_wan="ispa",remote_wan="ispc"\} 1$/m,
    /^tern_path_up\{path="ispa\/home\/ispa",[^}]*\} 1$/m,
    /^tern_path_rtt_seconds\{path="ispa\/cloud\/ispc",[^}]*\} 0\.\d+/m,
    /^tern_path_loss_ratio\{path="ispa\/cloud\/ispc",[^}]*\} [0-9.e-]+$/m,
    /^tern_tunnel_rx_bytes_total\{path="ispa\/cloud\/ispc",[^}]*\} \d+$/m,
    /^tern_wan_up\{wan="ispa"\} 1$/m,
    /^# TYPE tern_tunnel_tx_bytes_total counter$/m,
  ]) t.match(text, want, `metrics have ${want}`);
  const ss = await lab.mustExec(box, ['ss', '-Hltn', 'sport = :9273']);
  t.match(ss, /127\.0\.0\.1:9273/, 'bound to 127.0.0.1 (metrics.listen default)');
  t.notMatch(ss, /0\.0\.0\.0:9273|\*:9273/, 'and nowhere else');
});

t.test('config apply: unconfirmed rolls back by itself, confirmed stays, a broken file changes nothing', async (t) => {
  const original = fs.readFileSync(env.TERN_CONFIG!, 'utf8');
  const edit = (desc: string): string => {
    const text = original.replace(/^( {2}description: ).*$/m, `$1${desc}`);
    if (text === original) throw new Error('ternctl.test: the config has no identity.description to edit');
    return text;
  };
  const v1 = edit('office PAIR member A, ternctl test one');
  const f1 = path.join(lab.runDir, 'v1.yaml');
  fs.writeFileSync(f1, v1);

  const a = await ctl(['config', 'apply', f1, '--confirm-within', '30s']);
  t.equal(a.code, 0, a.err);
  t.match(a.out, /NOT YET CONFIRMED: run "ternctl config confirm" within \d+s, or it rolls back/);
  const h = await ctlJson<{ pending: { id: number } | null }>(['config', 'history']);
  t.ok(h.doc.data.pending, 'the apply is pending');
  await consistent(t, sha256(v1), 'right after apply');
  // Nobody confirms: the detached timer rolls back (bounded by tries, not by time).
  await waitFor('the unconfirmed apply rolled back', async () => {
    const r = await ctlJson<{ pending: unknown; versions: Array<{ id: number; state: string }> }>(['config', 'history']);
    return r.doc.data.pending === null && r.doc.data.versions[0]?.state === 'rolled-back';
  }, patience(30_000, 500));
  await consistent(t, sha256(original), 'after the automatic rollback');

  const b = await ctl(['config', 'apply', f1, '--confirm-within', '30s']);
  t.equal(b.code, 0, b.err);
  const deadline = Date.now() + 30_000;
  const c = await ctl(['config', 'confirm']);
  t.equal(c.code, 0, c.err);
  t.match(c.out, /confirmed version #\d+/);
  // The timer was stopped: wait until no rollback process is left, then past the deadline.
  await waitFor('the rollback timer gone', async () => {
    const r = await lab.exec(box, ['pgrep', '-f', 'config rollback --if-unconfirmed']);
    return r.code === 1;
  }, patience(5000, 500));
  // A genuine pause: the deadline is wall-clock by design (--confirm-within
  // 30s), and that nothing rolls back at it can only be shown past it. The
  // state is then checked, not assumed from the pause.
  await sleep(Math.max(0, deadline - Date.now()) + 2000);
  await consistent(t, sha256(v1), 'confirmed, past the deadline');
  const again = await ctl(['config', 'confirm']);
  t.equal(again.code, 1, 'nothing left to confirm');

  const broken = path.join(lab.runDir, 'broken.yaml');
  fs.writeFileSync(broken, v1.replace(/^( {2}address: 100\.64\.0\.1\/24)$/m, '  address: 100.64.0.300/24').replace(/^log:/m, 'logs:'));
  const bad = await ctl(['config', 'apply', broken]);
  t.equal(bad.code, 1, 'a broken file fails');
  t.match(bad.err, /broken\.yaml:\d+: overlay\.address: /, 'by key path and line');
  t.match(bad.err, /broken\.yaml:\d+: logs: unknown key 'logs'/);
  await consistent(t, sha256(v1), 'after a broken apply');

  // Put the original back for the tests that follow.
  const orig = path.join(lab.runDir, 'original.yaml');
  fs.writeFileSync(orig, original);
  const back = await ctl(['config', 'apply', orig, '--confirm-within', '0']);
  t.equal(back.code, 0, back.err);
  await consistent(t, sha256(original), 'restored');
});

/** A 32-byte key in the encodings a leak could take. */
const encodings = (key: string): string[] => {
  const raw = Buffer.from(key, 'base64');
  return [key, key.replace(/=+$/, ''), raw.toString('base64url'), raw.toString('hex'), raw.toString('hex').toUpperCase()];
};

/** Every regular file under dir, with its bytes. */
function filesUnder(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push([p, fs.readFileSync(p, 'latin1')]);
    }
  };
  walk(dir);
  return out;
}

/**
 * What a member of the sockets' group who is not root gets from tunneld:
 * every method it serves (daemon.reload and subscriptions aside: they
 * change things), and ra.config for user, called as a throwaway uid.
 */
async function tunneldAsMember(user: string): Promise<string> {
  const sock = path.join(env.TERN_RUN_DIR!, 'tunneld.sock');
  const gid = fs.statSync(sock).gid;
  const bus = path.join(repoRoot, 'dist', 'daemons', 'lib', 'bus', 'index.js');
  const script = `
    const { BusClient } = await import(${JSON.stringify(bus)});
    const c = new BusClient({ socketPath: process.argv[1], reconnect: false, timeoutMs: 20000 });
    const out = { uid: process.getuid(), replies: {} };
    const { methods } = await c.call('rpc.methods');
    for (const m of [...methods.filter((m) => !m.startsWith('rpc.sub') && !m.startsWith('rpc.unsub') && m !== 'daemon.reload'), 'ra.config']) {
      try { out.replies[m] = await c.call(m, m === 'ra.config' ? { name: ${JSON.stringify(user)} } : undefined); }
      catch (err) { out.replies[m] = { error: err.code + ': ' + err.message }; }
    }
    c.close();
    console.log(JSON.stringify(out));`;
  const r = await lab.exec(box, ['setpriv', '--reuid=65533', '--regid=65533', `--groups=${gid}`, process.execPath, '--input-type=module', '-e', script, sock], {
    env: { ...env, NODE_OPTIONS: '' }, timeoutMs: 60_000,
  });
  if (r.code !== 0) throw new Error(`ternctl.test: bus client as uid 65533: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

// Issue #15: the client's private key was kept on the box and served to
// anyone on tunneld.sock (group tern) by ra.config. Now it leaves the box
// once, in ra add's output; the box keeps only the public key.
t.test('ra add: a consultant connects with the config issued once; the box keeps no client key; ra revoke cuts them off', async (t) => {
  const conf = path.join(lab.runDir, 'alice.conf');
  const add = await ctl(['ra', 'add', 'alice', '--allow', '10.1.0.0/24', '--out', conf]);
  t.equal(add.code, 0, add.err);
  t.match(add.out, /added remote user alice: address 100\.65\.1\.\d+\/32/, 'an address next to the other users');
  t.match(add.out, /\[Interface\]\nPrivateKey = /);
  t.match(add.out, /[▀▄█]{10}/u, 'a QR code');
  t.equal(fs.statSync(conf).mode & 0o777, 0o600);
  const key = /^PrivateKey = (\S+)$/m.exec(fs.readFileSync(conf, 'utf8'))?.[1] ?? '';
  t.equal(key.length, 44, 'the config file holds the client key');

  const onBox = [env.TERN_STATE_DIR!, env.TERN_ETC_DIR!, env.TERN_RUN_DIR!].flatMap((d) => filesUnder(d))
    .filter(([, text]) => encodings(key).some((e) => text.includes(e))).map(([f]) => f);
  t.same(onBox, [], `got the client private key in ${onBox.join(', ')}; want it in no file of the box`);
  const asMember = await tunneldAsMember('alice');
  t.match(asMember, /"uid":65533/, 'the bus client ran as a non-root member of the socket group');
  const leaked = encodings(key).filter((e) => asMember.includes(e));
  t.same(leaked, [], `got the client private key in tunneld's replies to a group member (${asMember.slice(0, 300)}); want it in none`);
  t.match(asMember, /"ra\.config":\{"error":"TERN_E_BUS_METHOD_NOT_FOUND/, 'ra.config is served no more');
  const siteKey = fs.readFileSync(path.join(env.TERN_STATE_DIR!, 'keys', 'overlay.key'), 'utf8').trim();
  t.same(encodings(siteKey).filter((e) => asMember.includes(e)), [], 'nor the site key');

  const up = await lab.exec('rw', ['wg-quick', 'up', conf], { timeoutMs: 30_000 });
  t.equal(up.code, 0, `wg-quick up: ${up.stderr}`);
  t.teardown(() => lab.exec('rw', ['wg-quick', 'down', conf]).then(() => undefined));
  const ok = await pingOne(lab, 'rw', '10.1.0.10', { count: 20, periodMs: 50, timeoutMs: 2000 });
  t.ok(ok.received >= ok.sent - 1, `alice reaches the office host: ${ok.received}/${ok.sent}`);
  const list = await ctl(['ra', 'list']);
  t.match(list.out, /alice +active +100\.65\.1\.\d+\/32 +\S{44} /);
  const show = await ctl(['ra', 'show', 'alice']);
  t.equal(show.code, 0, show.err);
  t.match(show.out, /^# PrivateKey = .*does not keep it/m, 'ra show: the config without its private key');
  t.match(show.out, /ternctl ra rekey alice/, 'and how to get a new one');
  t.notOk(encodings(key).some((e) => show.out.includes(e)), 'ra show never prints the key again');

  const rev = await ctl(['ra', 'revoke', 'alice']);
  t.equal(rev.code, 0, rev.err);
  const cut = await pingOne(lab, 'rw', '10.1.0.10', { count: 10, periodMs: 50, timeoutMs: 500 });
  t.equal(cut.received, 0, `after revoke: ${cut.received}/${cut.sent}`);
  const revoked = await ctl(['ra', 'show', 'alice']);
  t.equal(revoked.code, 1);
  t.match(revoked.err, /revoked/);
});

t.test('diag: a bundle with config, state, logs, metrics, host and network; no private key in it', async (t) => {
  const out = path.join(lab.runDir, 'diag.tar.gz');
  const r = await ctl(['diag', '--out', out]);
  t.equal(r.code, 0, r.err);
  t.comment(r.out.trim());
  const list = await lab.mustExec(box, ['tar', '-tzf', out]);
  for (const want of ['config/tern.yaml', 'state/status.json', 'state/daemons/tunneld.json', 'state/daemons/probed.json', 'state/events.json', 'metrics/metrics.prom', 'logs/tunneld.log', 'logs/probed.log', 'host/facts.json', 'net/ip-addr.txt', 'net/ip-route.txt', 'net/ip-rule.txt', 'net/wg-show.txt', 'manifest.json']) {
    t.match(list, new RegExp(`/${want.replace(/[.]/g, '\\.')}$`, 'm'), `bundle holds ${want}`);
  }
  const plain = zlib.gunzipSync(fs.readFileSync(out)).toString('latin1');
  const keyFiles = [
    ...fs.readdirSync(path.join(lab.runDir, 'keys')).filter((f) => f.endsWith('.key')).map((f) => path.join(lab.runDir, 'keys', f)),
    path.join(env.TERN_STATE_DIR!, 'keys', 'overlay.key'),
  ];
  t.ok(keyFiles.length >= 4, `the lab's private key files: ${keyFiles.length}`);
  for (const f of keyFiles) {
    const key = fs.readFileSync(f, 'utf8').trim();
    for (const e of encodings(key)) {
      const hits = plain.split(e).length - 1;
      t.equal(hits, 0, `${path.basename(f)} as ${e.slice(0, 6)}...: got ${hits} occurrences in the bundle; want 0`);
    }
  }
  t.match(plain, /office1/, 'the bundle is about office1');
  t.match(plain, /tern_daemon_up\{daemon="tunneld"/);
});

t.test('logs: the box\'s daemons, pretty and filtered', async (t) => {
  const r = await ctl(['logs', '--daemon', 'tunneld', '-n', '5']);
  t.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  t.equal(lines.length, 5);
  for (const l of lines) t.match(l, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR) tunneld/, l);
});

t.test('a daemon stopped, a daemon stuck: ternctl says so, exit 3, and never hangs', async (t) => {
  await lab.kill(box, 'probed', 'SIGTERM');
  const s = await ctl(['status']);
  t.equal(s.code, 3, `status with probed stopped: exit ${s.code}; want 3`);
  t.match(s.out, /probed +not running .*no socket at .*probed\.sock/);
  t.match(s.out, /tunneld +running/);
  t.match(s.out, /cloud +ispa\/cloud\/ispc +up +- /, 'paths still shown from tunneld, health empty');
  const p = await ctl(['paths']);
  t.equal(p.code, 3);
  t.match(p.out, /probed: probed not running/);
  const rep = await ctlJson<{ source: string; series: Array<{ totals: { sent: number } }> }>(['report', 'loss', '--site', 'cloud', '--from', '10m']);
  t.equal(rep.code, 0, 'the loss report still works');
  t.equal(rep.doc.data.source, 'database', 'from the state database, read-only');
  t.ok(rep.doc.data.series[0]!.totals.sent > 100);

  const tunneld = lab.process(box, 'tunneld')!;
  process.kill(tunneld.pid, 'SIGSTOP');
  try {
    const stuck = await ctl(['status', '--timeout', '1s'], { timeoutMs: 60_000 });
    t.notOk(stuck.timedOut, 'status returns although tunneld does not answer');
    t.equal(stuck.code, 3);
    t.match(stuck.out, /tunneld +not responding .*no reply to daemon\.status within 1000 ms/);
    const tun = await ctl(['tunnels', '--timeout', '1s'], { timeoutMs: 60_000 });
    t.notOk(tun.timedOut);
    t.equal(tun.code, 3);
    t.match(tun.err, /tunneld is not responding/);
  } finally {
    process.kill(tunneld.pid, 'SIGCONT');
  }
});

t.test('a user without rights: a clear message, exit 4, nothing changed', async (t) => {
  const nobody = 65534;
  const s = await ctl(['status'], { as: nobody });
  t.equal(s.code, 4, `status as nobody: exit ${s.code}; want 4 (${s.err})`);
  t.match(s.out, /permission denied/);
  const tun = await ctl(['tunnels'], { as: nobody });
  t.equal(tun.code, 4);
  t.match(tun.err, /tunneld: permission denied on .*tunneld\.sock: run as root or join group tern/);
  const before = fs.readFileSync(env.TERN_CONFIG!, 'utf8');
  const f = path.join(lab.runDir, 'as-nobody.yaml');
  fs.writeFileSync(f, before.replace(/^( {2}description: ).*$/m, '$1nobody was here'), { mode: 0o644 });
  const apply = await ctl(['config', 'apply', f], { as: nobody });
  t.equal(apply.code, 4, `config apply as nobody: exit ${apply.code}; want 4 (${apply.err})`);
  t.match(apply.err, /permission denied on .*: run as root or join group tern/);
  t.equal(fs.readFileSync(env.TERN_CONFIG!, 'utf8'), before, 'the config is untouched');
});

t.test('bad input on the box: usage errors exit 2 with a hint', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['stauts'], /Did you mean status\?/],
    [['report', 'loss', '--site', 'cloud', '--from', 'last tuesday'], /hint: use now, a duration ago/],
    [['ra', 'add'], /missing required argument 'name'/],
  ];
  for (const [args, want] of cases) {
    const r = await ctl(args);
    t.equal(r.code, 2, `ternctl ${args.join(' ')}: exit ${r.code}`);
    t.match(r.err, want);
  }
});
