import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exampleConfig, tempAppliance, testContext, ternctl } from '../testkit.js';
import { ConfigApplier } from '../../lib/config/transaction/index.js';
import type { RollbackTimer } from '../../lib/config/transaction/index.js';
import type { NetworkdTarget } from '../../lib/networkd/index.js';
import { configNetworkd } from './networkd.js';

const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ternctl-networkd-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};
const list = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const own = ['00-tern-unmanaged.network', '10-tern-eth0.network', '20-tern-eth1.network'];

t.test('config networkd writes the files, replaces its own stale ones, leaves everything else', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const root = tmp();
  const net = path.join(root, 'network');
  fs.mkdirSync(net, { recursive: true });
  fs.mkdirSync(path.join(net, '10-other.network.d'));
  // Someone else's files, and one of ours from a config that had a WAN on eth9.
  const others = { '05-admin.network': '[Match]\nName=eth5\n', 'tern-notes.txt': 'not ours\n', '50-tern.network': 'not of our form\n' };
  for (const [name, text] of Object.entries(others)) fs.writeFileSync(path.join(net, name), text);
  fs.writeFileSync(path.join(net, '10-tern-eth9.network'), '[Match]\nName=eth9\n');

  const r = await ternctl(app, ['config', 'networkd', '--out', root]);
  t.equal(r.code, 0, r.err);
  t.same(list(net), [...Object.keys(others), '10-other.network.d', ...own].sort(), 'the stale own file is gone, the others stay');
  t.same(list(path.join(root, 'networkd.conf.d')), ['90-tern-foreign.conf']);
  for (const [name, text] of Object.entries(others)) t.equal(fs.readFileSync(path.join(net, name), 'utf8'), text, `${name} untouched`);
  t.match(fs.readFileSync(path.join(net, '20-tern-eth1.network'), 'utf8'), /\nAddress=10\.10\.0\.2\/24\n/, 'the example config\'s LAN address');
  t.equal(fs.statSync(path.join(net, '10-tern-eth0.network')).mode & 0o777, 0o644, 'readable by networkd (user systemd-network)');
  t.match(r.out, new RegExp(`^wrote {4} ${path.join(net, '00-tern-unmanaged.network').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  t.match(r.out, /^removed {3}.*10-tern-eth9\.network$/m);
  t.notOk(list(net).some((f) => f.endsWith('.tmp')), 'no temporary files left');

  const mtime = fs.statSync(path.join(net, '10-tern-eth0.network')).mtimeMs;
  const again = await ternctl(app, ['config', 'networkd', '--out', root, '--json']);
  t.equal(again.code, 0, again.err);
  const doc = JSON.parse(again.out) as { ok: boolean; command: string; data: { changed: boolean; removed: string[]; files: Array<{ state: string }> } };
  t.same([doc.ok, doc.command, doc.data.changed, doc.data.removed], [true, 'config networkd', false, []], 'a second run changes nothing');
  t.ok(doc.data.files.every((f) => f.state === 'unchanged'));
  t.equal(fs.statSync(path.join(net, '10-tern-eth0.network')).mtimeMs, mtime, 'an unchanged file is not rewritten (networkd would reconfigure its link)');
});

t.test('--dry-run prints the files and writes nothing; --config renders another file', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const root = tmp();
  const other = path.join(app.dir, 'new.yaml');
  fs.writeFileSync(other, exampleConfig().replace('address: 10.10.0.2/24', 'address: 10.10.0.3/24'));
  const r = await ternctl(app, ['config', 'networkd', '--out', root, '--config', other, '--dry-run']);
  t.equal(r.code, 0, r.err);
  t.same(list(root), [], 'nothing written');
  t.match(r.out, new RegExp(`^# ${path.join(root, 'network', '20-tern-eth1.network')}\n`, 'm'));
  t.match(r.out, /\nAddress=10\.10\.0\.3\/24\n/, 'from --config, not the running config');
  t.match(r.out, /ManageForeignRoutingPolicyRules=no/);
  const j = await ternctl(app, ['config', 'networkd', '--out', root, '--dry-run', '--json']);
  const doc = JSON.parse(j.out) as { data: { dryRun: boolean; files: Array<{ path: string; text: string }> } };
  t.equal(doc.data.dryRun, true);
  t.same(doc.data.files.map((f) => path.basename(f.path)), [...own, '90-tern-foreign.conf']);
  t.same(list(root), []);
});

t.test('a config networkd cannot render, or cannot read: exit 1 with the reason, nothing written', async (t) => {
  const app = tempAppliance(exampleConfig().replace(/interface: eth0/, 'interface: tn0'));
  t.teardown(app.cleanup);
  const root = tmp();
  const r = await ternctl(app, ['config', 'networkd', '--out', root]);
  t.equal(r.code, 1);
  t.match(r.err, /wans\[0\]\.interface: interface 'tn0' has a name Tern's daemons give their own interfaces .*\[TERN_E_CONFIG_SEMANTIC\]/);
  t.same(list(root), []);
  const missing = await ternctl(app, ['config', 'networkd', '--out', root, '--config', path.join(app.dir, 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /nope\.yaml: no such file.*\[TERN_E_CONFIG_READ\]/);
});

t.test('--reload: networkctl reload only when something changed; an old LAN address networkd keeps is deleted', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const root = tmp();
  const calls: string[] = [];
  const target: NetworkdTarget = {
    root, booted: () => true,
    reload: async () => { calls.push('reload'); },
    deleteAddress: async (ifname, address) => { calls.push(`del ${address} ${ifname}`); },
  };
  const ctx = testContext(app);
  t.teardown(() => ctx.daemons.close());
  await configNetworkd(ctx, { out: root, reload: true }, target);
  t.same(calls, ['reload'], 'first render: reload');
  await configNetworkd(ctx, { out: root, reload: true }, target);
  t.same(calls, ['reload'], 'nothing changed: no reload');
  fs.writeFileSync(app.env.TERN_CONFIG, exampleConfig().replace('address: 10.10.0.2/24', 'address: 10.10.0.3/24'));
  const r = await configNetworkd(ctx, { out: root, reload: true }, target);
  t.same(calls, ['reload', 'reload', 'del 10.10.0.2/24 eth1'], 'LAN re-addressed: reload, then the old address goes');
  t.match(r.text, /networkd: reloaded \(networkctl reload, deleted old 10\.10\.0\.2\/24 from eth1\)/);
});

t.test('config apply and rollback re-render and reload networkd; skipped where Tern does not manage it', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const original = fs.readFileSync(app.env.TERN_CONFIG, 'utf8');
  const root = tmp();
  const calls: string[] = [];
  let booted = false;
  let reloadFails = false;
  const target: NetworkdTarget = {
    root, booted: () => booted,
    reload: async () => { calls.push('reload'); if (reloadFails) throw new Error('networkctl reload: Failed to connect to bus'); },
    deleteAddress: async (ifname, address) => { calls.push(`del ${address} ${ifname}`); },
  };
  const ctx = testContext(app);
  t.teardown(() => ctx.daemons.close());
  const applier = new ConfigApplier(ctx, { startTimer: (): RollbackTimer => ({ kind: 'process', pid: 0 }), networkd: target });
  const lan = (): string => fs.readFileSync(path.join(root, 'network', '20-tern-eth1.network'), 'utf8');
  const v1 = original.replace('address: 10.10.0.2/24', 'address: 10.10.0.3/24');

  const lab = await applier.apply(original.replace('PAIR member A', 'lab'), 'lab.yaml', { confirmWithinMs: 0, source: 'test' });
  t.match(lab.networkd, { result: 'skipped', detail: /not booted with systemd/ });
  booted = true;
  const dev = await applier.apply(original, 'orig.yaml', { confirmWithinMs: 0, source: 'test' });
  t.match(dev.networkd, { result: 'skipped', detail: /no Tern files in .*tern-networkd\.service did not run/ }, 'never rendered here: not Tern\'s networkd');
  t.same(list(root), [], 'nothing written');
  t.same(calls, []);

  // What tern-networkd.service does at boot.
  await configNetworkd(ctx, { out: root }, target);
  const same = await applier.apply(original.replace('PAIR member A', 'only the description'), 'd.yaml', { confirmWithinMs: 0, source: 'test' });
  t.match(same.networkd, { result: 'unchanged', written: [], removed: [] }, 'no addressing change: no reload');
  t.same(calls, []);

  const o = await applier.apply(v1, 'v1.yaml', { confirmWithinMs: 60_000, source: 'test' });
  t.equal(o.state, 'pending');
  t.match(o.networkd, { result: 'reloaded', written: [path.join(root, 'network', '20-tern-eth1.network')] });
  t.match(lan(), /\nAddress=10\.10\.0\.3\/24\n/);
  t.same(calls, ['reload', 'del 10.10.0.2/24 eth1']);

  // What the rollback timer does at the deadline.
  const r = await applier.rollbackPending('not confirmed');
  t.match(r, { id: o.id, networkd: { result: 'reloaded', detail: '20-tern-eth1.network, deleted old 10.10.0.3/24 from eth1' } });
  t.match(lan(), /\nAddress=10\.10\.0\.2\/24\n/, 'the rollback restores the addressing too');
  t.same(calls, ['reload', 'del 10.10.0.2/24 eth1', 'reload', 'del 10.10.0.3/24 eth1']);

  reloadFails = true;
  const bad = await applier.apply(v1, 'v1.yaml', { confirmWithinMs: 0, source: 'test' });
  t.equal(bad.state, 'confirmed', 'a networkd that cannot reload does not fail the apply');
  t.match(bad.networkd, { result: 'failed', detail: /files written; networkctl reload: Failed to connect to bus/ });
  t.match(lan(), /\nAddress=10\.10\.0\.3\/24\n/);
});
