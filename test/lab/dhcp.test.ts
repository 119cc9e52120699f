// Tests of the lab's DHCP client helper: dhclient's lease file read and
// checked (a lease file recorded from dhclient 4.4.3 against dnsmasq 2.90, address
// renumbered, testdata/), then (root) a
// stock dhclient in a host's namespace against a DHCP server on its LAN.
// The server here is a plain dnsmasq the test starts itself: test
// scaffolding standing in for "any DHCP server", not Tern's LAN service
// (tern-edged runs its own dnsmasq; its lab test uses this helper).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { currentLease, parseDhclientLeases, startDhcpClient, stopDhcpClient, waitForLease } from './dhcp.js';
import { Lab, repoRoot } from './lab.js';
import type { Topology } from './topology.js';
import { patience, waitFor } from './wait.js';

const recorded = fs.readFileSync(path.join(repoRoot, 'test', 'lab', 'testdata', 'dhclient.leases'), 'utf8');

t.test('lease file: the last lease of the interface, every option read', async (t) => {
  const lease = parseDhclientLeases(recorded, 'eth0');
  t.same(lease, {
    interface: 'eth0',
    address: '10.9.0.57',
    prefixLength: 24,
    routers: ['10.9.0.1'],
    dnsServers: ['10.9.0.1'],
    ntpServers: [],
    domain: 'lab.test',
    leaseSec: 600,
    serverId: '10.9.0.1',
  }, `got ${JSON.stringify(lease)}`);
  t.equal(parseDhclientLeases(recorded, 'eth1'), undefined, 'no lease for another interface');
  t.equal(parseDhclientLeases('', 'eth0'), undefined, 'no lease in an empty file');
  // dhclient appends: the last block is the current lease.
  const renewed = `${recorded}${recorded.replace(/10\.9\.0\.57/g, '10.9.0.58')}`;
  t.equal(parseDhclientLeases(renewed, 'eth0')?.address, '10.9.0.58', 'the last lease wins');
});

t.test('lease file: bad values are refused, naming them', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['address not IPv4', recorded.replace('fixed-address 10.9.0.57', 'fixed-address 10.9.0.300'), /fixed-address "10\.9\.0\.300"; want an IPv4 address/],
    ['no address', recorded.replace(/^\s*fixed-address .*\n/m, ''), /no fixed-address/],
    ['router garbage', recorded.replace('option routers 10.9.0.1', 'option routers $(reboot)'), /routers "\$\(reboot\)"; want an IPv4 address/],
    ['mask with holes', recorded.replace('subnet-mask 255.255.255.0', 'subnet-mask 255.0.255.0'), /subnet-mask 255\.0\.255\.0; want a contiguous mask/],
    ['lease time not a number', recorded.replace('dhcp-lease-time 600', 'dhcp-lease-time soon'), /dhcp-lease-time "soon"; want seconds/],
  ];
  for (const [name, text, want] of cases) {
    t.throws(() => parseDhclientLeases(text, 'eth0'), { code: 'TERN_E_LAB_COMMAND', message: want }, `${name}: refused`);
  }
});

const root = process.getuid?.() === 0;
t.test('a stock dhclient takes a lease from the LAN\'s DHCP server and uses its DNS', { skip: root ? false : 'needs root' }, async (t) => {
  const topo: Topology = {
    name: 'dhcp',
    nodes: [
      { name: 'server', role: 'host', description: 'a plain dnsmasq: DHCP 10.9.0.50-99 and DNS (test scaffolding)' },
      { name: 'client', role: 'host', description: 'a LAN host configured by DHCP alone' },
    ],
    // The client's end starts with an address the helper must flush: a DHCP host has none of its own.
    links: [{ use: 'lan', a: { node: 'client', ifname: 'eth0', address: '10.9.0.200/24' }, b: { node: 'server', ifname: 'eth0', address: '10.9.0.1/24' } }],
    routes: [],
    sites: [],
    remoteUsers: [],
  };
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-dhcp-'));
  const lab = await Lab.up(topo, { runDir });
  t.teardown(async () => {
    await lab.down();
    fs.rmSync(runDir, { recursive: true, force: true });
  });
  const dns = path.join(runDir, 'dnsmasq');
  fs.mkdirSync(dns);
  lab.spawn('server', 'dnsmasq', ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--user=root',
    '--interface=eth0', '--bind-interfaces', '--dhcp-range=10.9.0.50,10.9.0.99,255.255.255.0,10m', '--dhcp-authoritative',
    '--dhcp-option=option:router,10.9.0.1', '--dhcp-option=option:dns-server,10.9.0.1', '--domain=lab.test',
    '--address=/probe.lab.test/10.9.0.7', `--dhcp-leasefile=${path.join(dns, 'leases')}`, `--pid-file=${path.join(dns, 'pid')}`, '--log-dhcp']);
  await waitFor('server: dnsmasq on UDP 67 and 53', async () => {
    const ss = await lab.mustExec('server', ['ss', '-Hlun']);
    return ss.includes(':67 ') && ss.includes('10.9.0.1:53 ');
  }, patience(2000));

  const client = await startDhcpClient(lab, 'client', 'eth0');
  const lease = await waitForLease(lab, client);
  t.match(lease.address, /^10\.9\.0\.(5\d|[6-9]\d)$/, `got address ${lease.address}; want one of the range 10.9.0.50-99`);
  t.same([lease.prefixLength, lease.routers, lease.dnsServers, lease.domain, lease.leaseSec, lease.serverId], [24, ['10.9.0.1'], ['10.9.0.1'], 'lab.test', 600, '10.9.0.1'],
    `got lease ${JSON.stringify(lease)}; want /24, router and DNS 10.9.0.1, domain lab.test, 600 s from 10.9.0.1`);

  const addrs = await lab.mustExec('client', ['ip', '-4', '-o', 'address', 'show', 'dev', 'eth0']);
  t.notMatch(addrs, /10\.9\.0\.200\//, `the static address was flushed: got ${addrs.trim()}`);
  const route = (await lab.mustExec('client', ['ip', '-4', 'route', 'show', 'default'])).trim();
  t.match(route, /^default via 10\.9\.0\.1 dev eth0/, `got default route ${JSON.stringify(route)}; want via 10.9.0.1 (the lease's router)`);
  // The DNS it learned is the node's resolver: a plain lookup, no server named, reaches dnsmasq.
  const resolv = fs.readFileSync(path.join('/etc/netns', lab.ns('client'), 'resolv.conf'), 'utf8');
  t.match(resolv, /^nameserver 10\.9\.0\.1$/m, `got the node's resolv.conf ${JSON.stringify(resolv)}; want nameserver 10.9.0.1`);
  const dig = await lab.mustExec('client', ['dig', '+short', '+time=2', '+tries=1', 'probe.lab.test']);
  t.equal(dig.trim(), '10.9.0.7', `got ${JSON.stringify(dig.trim())} for probe.lab.test through the learned resolver; want 10.9.0.7`);
  const leases = fs.readFileSync(path.join(dns, 'leases'), 'utf8');
  t.match(leases, new RegExp(` ${lease.address.replace(/\./g, '\\.')} `), `the server's lease file holds ${lease.address}: ${leases.trim()}`);

  // Nothing of the client's landed outside its own directory.
  const strays = fs.readdirSync('/etc').filter((f) => f.startsWith('resolv.conf.dhclient-new'));
  t.same(strays, [], `got stray files in the machine's /etc: ${strays.join(', ')}`);
  t.same(fs.readdirSync(client.dir).sort(), ['dhclient.leases', 'dhclient.pid', 'etc', 'resolv.conf', 'work'], 'the client keeps its files in its directory');
  t.equal(Number(fs.readFileSync(client.pidFile, 'utf8')), client.process.pid, 'dhclient\'s pid file names the lab process');

  await stopDhcpClient(lab, client);
  t.ok(client.process.child.exitCode !== null || client.process.child.signalCode !== null, 'stopped by its pid');
  t.equal(currentLease(client)?.address, lease.address, 'the lease file stays for a restart');
});
