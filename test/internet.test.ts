// Lab test of the lab's internet (issue #17, "the lab grows an internet"):
// the servers behind the core answer from every ISP router and from
// customer links, naming themselves and the source address they saw (which
// must be the customer's WAN address: the far end is the evidence for every
// NAT and steering claim to come); dns1 answers for example.test with
// authority and the configured TTL, wildcards included; iperf3 carries a
// short transfer; and ispd carries home1's second (metered) WAN. No Tern
// daemon runs here: this is the network itself.
import t, { type Test } from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../daemons/lib/config/index.js';
import {
  Lab, applianceWans, defaultTopology, dnsQuery, httpEcho, iperf, iperfPort, serverWith, startInternet,
  type StartedInternet,
} from './lab/index.js';
import { hostOf } from './lab/topology.js';

/** Where each node's traffic to the servers leaves from: its address towards the core, or its WAN. */
const sources: Array<[string, string]> = [
  ['ispa', '198.18.0.2'],
  ['ispb', '198.18.0.6'],
  ['ispc', '198.18.0.10'],
  ['office1', '198.18.1.2'],
  ['home1', '198.18.1.6'],
  ['rw', '198.18.2.6'],
  ['cloud1', '198.18.3.2'],
  ['ispd', '198.18.0.14'],
];

/** A lab with its internet running, torn down when the test `within` ends (one lab at a time on a shared box). */
async function upWithInternet(within: Test, topo = defaultTopology()): Promise<{ lab: Lab; inet: StartedInternet }> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-internet-'));
  const lab = await Lab.up(topo, { runDir });
  within.teardown(async () => {
    await lab.down();
    fs.rmSync(runDir, { recursive: true, force: true });
  });
  return { lab, inet: await startInternet(lab) };
}

t.test('default network: the internet answers', async (t) => {
  const { lab, inet } = await upWithInternet(t);
  const web = inet.servers.filter((s) => s.services.includes('http'));
  t.same(web.map((s) => s.node), ['inet', 'saas1', 'saas2'], `got web servers ${web.map((s) => s.node).join(', ')}; want inet, saas1, saas2`);

  t.test('every web server names itself and echoes the source address it saw', async (t) => {
    for (const [node, want] of sources) {
      for (const s of web) {
        const got = await httpEcho(lab, node, s.address);
        t.equal(got.server, s.node, `${node} → ${s.address}: got server ${got.server}; want ${s.node}`);
        t.equal(got.client, want, `${node} → ${s.node}: got source ${got.client}; want ${node}'s ${want}`);
        t.equal(got.local, s.address, `${node} → ${s.node}: got server address ${got.local}; want ${s.address}`);
      }
    }
  });

  t.test('dns1 is authoritative for example.test with the configured TTL', async (t) => {
    const dns = serverWith(lab.topology, 'dns');
    const addr = (node: string) => inet.servers.find((s) => s.node === node)!.address;
    const label = `x${crypto.randomBytes(4).toString('hex')}`;
    const cases: Array<[string, string]> = [
      ['www.example.test', addr('inet')],
      ['saas1.example.test', addr('saas1')],
      [`${label}.saas1.example.test`, addr('saas1')],
      ['saas2.example.test', addr('saas2')],
      [`${label}.cdn.example.test`, addr('saas2')],
      [`a.b.${label}.cdn.example.test`, addr('saas2')],
      ['ns1.example.test', dns.address],
    ];
    for (const [from] of [['rw'], ['ispc'], ['home1']]) {
      for (const [name, want] of cases) {
        const got = await dnsQuery(lab, from!, dns.address, name);
        t.equal(got.status, 'NOERROR', `${from}: ${name}: got status ${got.status}; want NOERROR`);
        t.ok(got.flags.includes('aa'), `${from}: ${name}: got flags ${got.flags.join(' ')}; want aa (authoritative)`);
        const a = got.answers.filter((r) => r.type === 'A');
        t.same(a.map((r) => r.data), [want], `${from}: ${name}: got A ${a.map((r) => r.data).join(', ') || 'none'}; want ${want}`);
        t.same(a.map((r) => r.ttl), [inet.ttl], `${from}: ${name}: got TTL ${a.map((r) => r.ttl).join(', ')}; want ${inet.ttl}`);
      }
    }
    const none = await dnsQuery(lab, 'rw', dns.address, `${label}.example.test`);
    t.equal(none.status, 'NXDOMAIN', `${label}.example.test: got ${none.status}; want NXDOMAIN`);
    const other = await dnsQuery(lab, 'rw', dns.address, 'example.com');
    t.equal(other.status, 'REFUSED', `example.com: got ${other.status}; want REFUSED (authoritative only for example.test)`);
  });

  t.test('a name resolved at dns1 reaches the server it names', async (t) => {
    const dns = serverWith(lab.topology, 'dns');
    const name = `x${crypto.randomBytes(4).toString('hex')}.cdn.example.test`;
    const a = (await dnsQuery(lab, 'rw', dns.address, name)).answers.find((r) => r.type === 'A')?.data;
    t.ok(a, `${name} resolves`);
    const got = await httpEcho(lab, 'rw', a!, { host: name });
    t.same([got.server, got.host, got.client], ['saas2', name, '198.18.2.6'], `got ${JSON.stringify(got)}; want saas2 answering ${name} to rw`);
  });

  t.test('iperf3 on inet carries a short transfer both ways', async (t) => {
    const srv = serverWith(lab.topology, 'iperf3');
    for (const [client, reverse] of [['rw', false], ['office1', true]] as const) {
      const r = await iperf(lab, srv.node, srv.address, client, { seconds: 1, serverRunning: true, port: iperfPort, reverse });
      t.ok(r.bitsPerSecond > 0, `${client} ${reverse ? '←' : '→'} ${srv.node}: got ${r.bitsPerSecond} bit/s; want more than 0`);
    }
  });

  t.test('the server segment is routed as before: LANs still unreachable from the servers', async (t) => {
    const r = await lab.exec('saas1', ['curl', '-sS', '--max-time', '2', 'http://10.2.0.10/'], { timeoutMs: 10_000 });
    t.not(r.code, 0, `saas1 → homehost 10.2.0.10: got curl exit ${r.code}; want a failure (no internet route to a LAN)`);
  });
});

t.test('home1 has a second, metered WAN on ispd (LTE)', async (t) => {
  const { lab, inet } = await upWithInternet(t);
  const wans = applianceWans(lab.topology, 'home1').map((w) => `${w.name} ${w.ifname} ${hostOf(w.address)} via ${w.gateway}`);
  t.same(wans, ['ispa wan0 198.18.1.6 via 198.18.1.5', 'ispd wan1 198.18.4.2 via 198.18.4.1'], `got home1 WANs ${JSON.stringify(wans)}`);
  const config = await loadConfig(lab.writeApplianceConfig('home1'));
  const got = config.config.wans.map((w) => `${w.name} metered=${w.metered}`);
  t.same(got, ['ispa metered=false', 'ispd metered=true'], `got home1's tern.yaml WANs ${JSON.stringify(got)}; want ispa, and ispd metered`);

  const saas1 = inet.servers.find((s) => s.node === 'saas1')!;
  const fromIspd = await httpEcho(lab, 'ispd', saas1.address);
  t.equal(fromIspd.client, '198.18.0.14', `ispd → saas1: got source ${fromIspd.client}; want ispd's 198.18.0.14`);
  // home1's main table still leaves by ispa.
  const byMain = await httpEcho(lab, 'home1', saas1.address);
  t.equal(byMain.client, '198.18.1.6', `home1 → saas1 by its main table: got source ${byMain.client}; want wan0's 198.18.1.6`);
  // A stand-in for the per-WAN table Tern will own: traffic from wan1's
  // address leaves by ispd. ispa's link to home1 is blackholed meanwhile:
  // ISPs do not filter sources, so only an answer with ispa cut off shows
  // the flow went both ways through ispd.
  await lab.mustExec('home1', ['ip', '-batch', '-'], { input: 'route add default via 198.18.4.1 dev wan1 table 104\nrule add pref 1040 from 198.18.4.2 lookup 104\n' });
  await lab.impair('ispa:home1').blackhole();
  const byLte = await httpEcho(lab, 'home1', saas1.address, { source: '198.18.4.2' });
  t.equal(byLte.client, '198.18.4.2', `home1 → saas1 from wan1 with ispa cut off: got source ${byLte.client}; want wan1's 198.18.4.2`);
  const cut = await lab.exec('home1', ['curl', '-sS', '--max-time', '2', `http://${saas1.address}/`], { timeoutMs: 10_000 });
  t.not(cut.code, 0, `home1 → saas1 by ispa while blackholed: got curl exit ${cut.code}; want a failure (the blackhole holds)`);
  await lab.impair('ispa:home1').clear();
});
