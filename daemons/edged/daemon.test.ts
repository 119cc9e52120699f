// edged with the LAN services (faked): started after the firewall, reloaded
// with the config, left running at stop; a dnsmasq that will not start
// raises edged.lan without taking the firewall down; the bus methods.
import t from 'tap';
import fs from 'node:fs';
import { BusClient } from '../lib/bus/index.js';
import { TernError } from '../lib/errors.js';
import { silentLogger } from '../lib/log/index.js';
import { runDaemon } from '../lib/runner/index.js';
import { tempAppliance } from '../lib/testkit/index.js';
import { edgedSpec, type EdgedDeps, type LanServicesLike } from './daemon.js';
import type { LanServicesStatus } from './lan/index.js';

function fakeLan(events: string[], opts: { failStart?: boolean } = {}): LanServicesLike {
  const status: LanServicesStatus = { dhcp: true, dns: true, intercept: false, running: true, pid: 4242, adopted: true, restarts: 0, problems: [] };
  return {
    start: async () => {
      events.push('lan.start');
      if (opts.failStart) throw new TernError('TERN_E_LAN_DNSMASQ', 'edged: lan: start dnsmasq: it exited at once: address in use');
    },
    reload: async () => { events.push('lan.reload'); },
    status: () => status,
    leases: async () => [{ mac: '52:54:00:00:00:01', address: '10.10.0.100', hostname: 'laptop', expiresAt: 2_000_000_000 }],
    domains: async () => [{ appClass: 'saas', family: 4, set: 'dom4_saas', elements: [{ address: '198.18.100.22', expiresSec: 30 }] }],
    stop: async () => { events.push('lan.stop'); },
  };
}

async function start(t: Tap.Test, lan: EdgedDeps['lan'], events: string[]) {
  const app = tempAppliance();
  const deps: EdgedDeps = {
    nft: {
      apply: async () => { events.push('nft.apply'); return 'loaded'; },
      setPeers: async () => undefined,
      counters: async () => ({}),
    },
    lan,
  };
  const d = await runDaemon(edgedSpec(deps), { env: app.env, logger: silentLogger(), notify: () => undefined });
  const c = new BusClient({ socketPath: `${app.env.TERN_RUN_DIR}/edged.sock`, reconnect: false, timeoutMs: 5000 });
  await c.connect();
  t.teardown(async () => { await c.close(); await d.stop().catch(() => undefined); app.cleanup(); });
  return { d, app, call: <T>(m: string): Promise<T> => c.request<T>(m) };
}

t.test('the LAN services start after the firewall, reload with the config, stay at stop', async (t) => {
  const events: string[] = [];
  const { d, app, call } = await start(t, () => fakeLan(events), events);
  t.same(events, ['nft.apply', 'lan.start'], `start order: got ${events.join(', ')}; want the firewall first`);
  const lan = await call<Record<string, unknown>>('edge.lan');
  t.same([lan.enabled, lan.pid, lan.adopted], [true, 4242, true], `edge.lan: got ${JSON.stringify(lan)}`);
  const leases = await call<{ leases: Array<{ address: string }> }>('edge.leases');
  t.same(leases.leases.map((l) => l.address), ['10.10.0.100'], `edge.leases: got ${JSON.stringify(leases)}`);
  const domains = await call<{ sets: Array<{ appClass: string }> }>('edge.domains');
  t.same(domains.sets.map((s) => s.appClass), ['saas'], `edge.domains: got ${JSON.stringify(domains)}`);
  // A changed file (the runner does not call reload for the same config).
  fs.appendFileSync(app.env.TERN_CONFIG!, '# changed\n');
  await d.reload();
  t.ok(events.includes('lan.reload'), `got ${events.join(', ')}; want lan.reload after a reload`);
  await d.stop();
  t.equal(events.at(-1), 'lan.stop', `got ${events.join(', ')}; want lan.stop (dnsmasq left running) last`);
});

t.test('a dnsmasq that will not start raises edged.lan; edged and its firewall stay up', async (t) => {
  const events: string[] = [];
  const { call } = await start(t, () => fakeLan(events, { failStart: true }), events);
  const st = await call<{ warnings: Array<{ name: string; severity: string; text: string }> }>('daemon.status');
  const w = st.warnings.find((x) => x.name === 'edged.lan');
  t.ok(w, `warnings: got ${JSON.stringify(st.warnings)}; want edged.lan`);
  t.match(w?.text ?? '', /address in use/, 'the warning carries dnsmasq\'s words');
  const edge = await call<{ outcome: string }>('edge.status');
  t.equal(edge.outcome, 'loaded', `edge.status outcome: got ${edge.outcome}; want loaded (the firewall is in place)`);
});

t.test('without LAN services: edge.lan says so, no leases, no domains', async (t) => {
  const events: string[] = [];
  const { call } = await start(t, null, events);
  const lan = await call<Record<string, unknown>>('edge.lan');
  t.same([lan.enabled, lan.running], [false, false], `edge.lan: got ${JSON.stringify(lan)}`);
  t.same(await call('edge.leases'), { leases: [] });
  t.same(await call('edge.domains'), { sets: [] });
});

declare namespace Tap { type Test = import('tap').Test }
