import t from 'tap';
import { systemClock } from '../lib/clock/index.js';
import { fakeDaemon, tempAppliance } from '../lib/testkit/index.js';
import { Daemons } from '../lib/views/daemons.js';
import { collectMetrics, parseListen, serveMetrics } from './index.js';

t.test('listen addresses', async (t) => {
  t.same(parseListen('127.0.0.1:9273'), { host: '127.0.0.1', port: 9273 });
  t.same(parseListen('[::1]:9100'), { host: '::1', port: 9100 });
  for (const bad of ['9273', 'localhost', '127.0.0.1:99999', '::1:9273', '127.0.0.1:']) t.throws(() => parseListen(bad), { code: 'TERN_E_CTL_USAGE' }, bad);
});

t.test('a scrape: metrics from every daemon that answers, up=0 for the others, Prometheus names', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const tunneld = await fakeDaemon(app, 'tunneld', (ctx) => {
    ctx.bus.method('paths.list', () => [
      { name: 'isp-a/home/inet', site: 'home', localWan: 'isp-a', remoteWan: 'inet', ifname: 'tn1-2-00', state: 'up', handshakeAgeMs: 12_000, endpoint: '192.0.2.1:51820', rxBytes: 1000, txBytes: 2000 },
    ]);
    return {};
  });
  const probed = await fakeDaemon(app, 'probed', (ctx) => {
    ctx.bus.method('paths.metrics', () => [{ path: 'isp-a/home/inet', state: 'degraded', lossPct: 7.5, lossFwdPct: 5, lossRevPct: 2.5, rttMs: 12, jitterMs: 1.5, mos: 4.1 }]);
    ctx.bus.method('wans.metrics', () => [{ wan: 'isp-a', state: 'up', lossPct: 0, rttMs: 3, rttLatestMs: 4, jitterMs: 0.2 }]);
    return {};
  });
  const paird = await fakeDaemon(app, 'paird', (ctx) => {
    ctx.bus.method('pair.status', () => ({
      role: 'master', priority: 150, basePriority: 150,
      sync: { keyId: 'add2669f', accepted: 1200, refused: { malformed: 0, version: 0, vrid: 0, badAuth: 3, wrongSource: 40, replay: 5 } },
    }));
    return {};
  });
  // steer.counters as steerd serves it: decisions are each site's selector's, moves the daemon's totals.
  const steerd = await fakeDaemon(app, 'steerd', (ctx) => {
    ctx.bus.method('steer.counters', () => ({
      method: 'nft', queues: [],
      totals: { moves: 9, markUpdates: 9, markMissing: 0, sweeps: 1, swept: 2, refreshes: 30, refreshErrors: 0 },
      moveEvents: { written: 1, coalesced: 0, errors: 0 },
      sites: [{ site: 'home', decisions: 700 }, { site: 'cloud', decisions: 42 }],
    }));
    ctx.bus.method('steer.flows', () => ({ total: 5, flows: [] }));
    // steer.internet: WAN usage per app class (InternetView in daemons/lib/api/steerd.ts).
    ctx.bus.method('steer.internet', () => ({
      enabled: true,
      paths: [
        { name: 'isp-a/internet', wan: 'isp-a', mark: 0x1f0000, table: 1000, state: 'up', wanState: 'up', metered: false, holdSec: 0, flows: 3, natFlows: 3, bytes: 3000, classes: { default: { flows: 2, bytes: 1000 }, saas: { flows: 1, bytes: 2000 } } },
        { name: 'lte/internet', wan: 'lte', mark: 0x1f0001, table: 1001, state: 'down', wanState: 'up', metered: true, holdSec: 12.5, flows: 1, natFlows: 1, bytes: 10, classes: { default: { flows: 1, bytes: 10 } } },
      ],
      classes: [],
      clears: [],
    }));
    return {};
  });
  // edged's LAN services: two leases, one domain class with one learned address.
  const edged = await fakeDaemon(app, 'edged', (ctx) => {
    ctx.bus.method('edge.lan', () => ({ enabled: true, dhcp: true, dns: true, intercept: false, running: true, pid: 99, adopted: false, restarts: 0, problems: [] }));
    ctx.bus.method('edge.leases', () => ({ leases: [{ mac: '52:54:00:00:00:01', address: '10.10.0.100', expiresAt: 2e9 }, { mac: '52:54:00:00:00:02', address: '10.10.0.101', expiresAt: null }] }));
    ctx.bus.method('edge.domains', () => ({ sets: [{ appClass: 'saas', family: 4, set: 'dom4_saas', elements: [{ address: '198.18.102.10', expiresSec: 30 }] }, { appClass: 'saas', family: 6, set: 'dom6_saas', elements: [] }] }));
    return {};
  });
  t.teardown(() => Promise.all([tunneld.stop(), probed.stop(), paird.stop(), steerd.stop(), edged.stop()]));
  const ac = new AbortController();
  // Patient: tests share a loaded machine.
  const ctx = { paths: app.paths, clock: systemClock, daemons: new Daemons({ paths: app.paths, timeoutMs: 20_000 }), signal: ac.signal };
  t.teardown(() => ctx.daemons.close());

  const s = await collectMetrics(ctx);
  const l = 'path="isp-a/home/inet",site="home",local_wan="isp-a",remote_wan="inet"';
  const want = [
    'tern_daemon_up{daemon="tunneld",installed="true"} 1',
    `tern_path_tunnel_up{${l}} 1`,
    `tern_path_up{${l}} 1`,
    `tern_path_degraded{${l}} 1`,
    `tern_path_loss_ratio{${l}} 0.075`,
    `tern_path_loss_forward_ratio{${l}} 0.05`,
    `tern_path_rtt_seconds{${l}} 0.012`,
    `tern_path_jitter_seconds{${l}} 0.0015`,
    `tern_path_mos{${l}} 4.1`,
    `tern_path_handshake_age_seconds{${l}} 12`,
    `tern_tunnel_rx_bytes_total{${l}} 1000`,
    `tern_tunnel_tx_bytes_total{${l}} 2000`,
    'tern_wan_up{wan="isp-a"} 1',
    'tern_wan_rtt_seconds{wan="isp-a"} 0.003',
    'tern_pair_role{role="master"} 1',
    'tern_pair_role{role="backup"} 0',
    'tern_pair_priority 150',
    'tern_pair_sync_accepted_total 1200',
    'tern_pair_sync_refused_total{reason="badAuth"} 3',
    'tern_pair_sync_refused_total{reason="wrongSource"} 40',
    'tern_qos_configured_rate_bits_per_second{wan="isp-a",direction="up"} 50000000',
    'tern_config_pending 0',
    'tern_steer_flows 5',
    'tern_steer_moves_total 9',
    'tern_steer_decisions_total 742',
    'tern_internet_flows{wan="isp-a",class="default"} 2',
    'tern_internet_flows{wan="isp-a",class="saas"} 1',
    'tern_internet_bytes{wan="isp-a",class="saas"} 2000',
    'tern_internet_nat_flows{wan="lte"} 1',
    'tern_internet_path_up{wan="isp-a"} 1',
    'tern_internet_path_up{wan="lte"} 0',
    'tern_internet_hold_seconds{wan="lte"} 12.5',
    'tern_dhcp_leases 2',
    'tern_domain_addresses{class="saas"} 1',
  ];
  for (const w of want) t.ok(s.text.split('\n').includes(w), `the scrape has: ${w}`);
  t.match(s.text, /^tern_daemon_up\{daemon="qosd",installed="(true|false)"\} 0$/m, 'a daemon that is not there: up 0');

  // Prometheus conventions: tern_ prefix, snake case, base units, _total only on counters.
  const types = [...s.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
  t.ok(types.length > 20, `got ${types.length} metrics`);
  for (const { name, type } of types) {
    t.match(name, /^tern_[a-z][a-z0-9_]*$/, `${name}: snake case with the tern_ prefix`);
    t.notMatch(name, /_(ms|milliseconds|percent|pct|mbps|kbps|kb|mb)(_|$)/, `${name}: base units only`);
    t.equal(name.endsWith('_total'), type === 'counter', `${name}: _total exactly on counters (${type})`);
  }

  // The same over HTTP, bound where asked.
  let listening!: (port: number) => void;
  const bound = new Promise<number>((r) => { listening = r; });
  const served = serveMetrics(ctx, '127.0.0.1:0', (a) => listening(a.port));
  const port = await Promise.race([bound, served.then(() => 0)]);
  t.ok(port > 0, 'listening on a free port');
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /text\/plain; version=0\.0\.4/);
  t.match(await res.text(), /tern_path_rtt_seconds\{path="isp-a\/home\/inet"/);
  t.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
  await t.rejects(serveMetrics(ctx, `127.0.0.1:${port}`), { code: 'TERN_E_CTL_EXPORTER', message: /address in use/ }, 'a second exporter on the same port is refused');
  ac.abort();
  await served;
});
