// Tests of the scanner wrapper: argv built only from valid input, nmap's XML
// reports (recorded from nmap 7.93 in two namespaces, testdata/) read into
// port states, bad reports refused; then one real scan (root) of a node
// with a known listener: TCP open, closed and dropped by an nft rule; UDP
// answered, refused and dropped.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Lab, repoRoot } from './lab.js';
import { parseNmapXml, portsIn, scan, scanArgv, type ScanOptions } from './scan.js';
import type { Topology } from './topology.js';
import { patience, waitFor } from './wait.js';

const testdata = path.join(repoRoot, 'test', 'lab', 'testdata');
const recorded = (name: string): string => fs.readFileSync(path.join(testdata, name), 'utf8');

t.test('argv: lists, top-N, IPv6; nothing built from bad input', async (t) => {
  const cases: Array<[string, string, ScanOptions, string[]]> = [
    ['tcp and udp lists, sorted and deduplicated', '192.0.2.2', { tcp: [8082, 8080, 8080], udp: [53] }, ['-sS', '-sU', '-p', 'T:8080,8082,U:53']],
    ['udp only', '192.0.2.2', { udp: [123] }, ['-sU', '-p', 'U:123']],
    ['top 100 tcp', '192.0.2.2', { top: { ports: 100, protocols: ['tcp'] } }, ['-sS', '--top-ports', '100']],
    ['IPv6', '2001:db8::2', { tcp: [22] }, ['-6', '-n', '-Pn', '-sS', '-p', 'T:22']],
  ];
  for (const [name, address, opts, want] of cases) {
    const argv = scanArgv(address, opts);
    const at = argv.findIndex((_, i) => want.every((w, j) => argv[i + j] === w));
    t.ok(at >= 0, `${name}: got argv ${argv.join(' ')}; want it to hold ${want.join(' ')}`);
    t.same(argv.slice(-3), ['-oX', '-', address], `${name}: got argv tail ${argv.slice(-3).join(' ')}; want -oX - ${address}`);
  }
  const bad: Array<[string, string, ScanOptions, RegExp]> = [
    ['a name, not an address', 'inet.example.test', { tcp: [80] }, /address "inet\.example\.test"; want an IPv4 or IPv6 address/],
    ['an option smuggled as address', '-iL/etc/passwd', { tcp: [80] }, /want an IPv4 or IPv6 address/],
    ['port 0', '192.0.2.2', { tcp: [0] }, /tcp: port 0; want an integer 1-65535/],
    ['port too high', '192.0.2.2', { udp: [70000] }, /udp: port 70000/],
    ['fractional port', '192.0.2.2', { tcp: [80.5] }, /port 80\.5/],
    ['port as text', '192.0.2.2', { tcp: ['80,U:53' as unknown as number] }, /port "80,U:53"/],
    ['no ports', '192.0.2.2', {}, /no ports/],
    ['lists and top', '192.0.2.2', { tcp: [80], top: { ports: 10, protocols: ['tcp'] } }, /both port lists and top/],
    ['top 0', '192.0.2.2', { top: { ports: 0, protocols: ['tcp'] } }, /top ports 0/],
    ['top of nothing', '192.0.2.2', { top: { ports: 10, protocols: [] } }, /top protocols \[\]/],
    ['top of sctp', '192.0.2.2', { top: { ports: 10, protocols: ['sctp' as 'tcp'] } }, /top protocols \["sctp"\]/],
    ['timeout too short', '192.0.2.2', { tcp: [80], timeoutMs: 10 }, /timeoutMs 10; want at least 1000/],
  ];
  for (const [name, address, opts, want] of bad) {
    t.throws(() => scanArgv(address, opts), { code: 'TERN_E_LAB_COMMAND', message: want }, `${name}: refused naming the problem`);
  }
});

t.test('recorded reports: every port with its state, collapsed ports expanded', async (t) => {
  const r = parseNmapXml(recorded('nmap-ports.xml'), '192.0.2.2');
  t.same(r.tcp, { 8080: 'open', 8081: 'closed', 8082: 'filtered' }, `tcp: got ${JSON.stringify(r.tcp)}`);
  t.same(r.udp, { 9997: 'closed', 9998: 'open|filtered', 9999: 'open' }, `udp: got ${JSON.stringify(r.udp)}`);
  t.same(portsIn(r, 'tcp'), [8080], 'open tcp ports');
  t.same(portsIn(r, 'udp', 'open|filtered'), [9998], 'silent udp ports');

  // --top-ports 100: 99 closed ports collapsed into <extraports>, one open.
  const top = parseNmapXml(recorded('nmap-top100.xml'), '192.0.2.2');
  const states = Object.values(top.tcp);
  t.equal(states.length, 100, `top 100: got ${states.length} tcp ports with a state; want 100`);
  t.same(portsIn(top, 'tcp'), [8080], `top 100: got open ${portsIn(top, 'tcp').join(', ')}; want 8080`);
  t.equal(top.tcp[22], 'closed', `top 100: got 22 ${top.tcp[22]}; want closed (from the extraports list)`);
  t.same(top.udp, {}, 'no udp scanned');
});

t.test('bad reports are refused, naming what was wrong', async (t) => {
  const good = recorded('nmap-ports.xml');
  const cases: Array<[string, string, string, RegExp]> = [
    ['not XML', 'Starting Nmap 7.93', '192.0.2.2', /not well-formed XML/],
    ['truncated', good.slice(0, good.indexOf('</ports>')), '192.0.2.2', /not well-formed XML/],
    ['not nmap', '<?xml version="1.0"?><html></html>', '192.0.2.2', /no <nmaprun> element/],
    ['another host', good, '192.0.2.9', /got hosts \["192\.0\.2\.2","[0-9A-F:]+"\]; want exactly 192\.0\.2\.9/],
    ['host timed out: no host', good.replace(/<host [\s\S]*<\/host>/, ''), '192.0.2.2', /got hosts \[\]; want exactly 192\.0\.2\.2/],
    ['unknown state', good.replace('state="closed" reason="reset"', 'state="sleepy" reason="reset"'), '192.0.2.2', /port tcp\/8081: state "sleepy"/],
    ['bad port', good.replace('portid="8081"', 'portid="80x"'), '192.0.2.2', /port "?NaN"?; want 1-65535|port tcp\/80x/],
    ['nmap error', good.replace('exit="success"', 'exit="error" errormsg="Failed to open device eth9"'), '192.0.2.2', /nmap failed: Failed to open device eth9/],
    ['collapsed without a list', recorded('nmap-top100.xml').replace(/ proto="tcp" ports="[^"]*"/, ''), '192.0.2.2', /99 ports closed collapsed, 0 of them listed/],
    ['bad collapsed list', recorded('nmap-top100.xml').replace(/ports="7,9,/, 'ports="9-7,'), '192.0.2.2', /extrareasons port range 9-7/],
  ];
  for (const [name, xml, address, want] of cases) {
    t.throws(() => parseNmapXml(xml, address), { code: 'TERN_E_LAB_COMMAND', message: want }, `${name}: refused`);
  }
});

// A real scan needs root (namespaces, raw sockets) and nmap.
const root = process.getuid?.() === 0;
t.test('a real scan of a node with known listeners', { skip: root ? false : 'needs root' }, async (t) => {
  const topo: Topology = {
    name: 'scan',
    nodes: [
      { name: 'scanner', role: 'host', description: 'runs nmap' },
      { name: 'target', role: 'host', description: 'TCP 8080 and UDP 9999 listening; TCP 8082 and UDP 9998 dropped' },
    ],
    links: [{ use: 'transit', a: { node: 'scanner', ifname: 'eth0', address: '192.0.2.1/30' }, b: { node: 'target', ifname: 'eth0', address: '192.0.2.2/30' } }],
    routes: [],
    sites: [],
    remoteUsers: [],
  };
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-scan-'));
  const lab = await Lab.up(topo, { runDir });
  t.teardown(async () => {
    await lab.down();
    fs.rmSync(runDir, { recursive: true, force: true });
  });
  lab.spawn('target', 'tcp8080', ['socat', '-u', 'TCP4-LISTEN:8080,reuseaddr,fork', 'OPEN:/dev/null']);
  lab.spawn('target', 'udp9999', ['socat', 'UDP4-RECVFROM:9999,fork', 'SYSTEM:echo pong']);
  await lab.mustExec('target', ['nft', '-f', '-'], {
    input: 'table inet scantest {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 8082 drop\n    udp dport 9998 drop\n  }\n}\n',
  });
  const listening = async (flag: string, port: number): Promise<boolean> => (await lab.mustExec('target', ['ss', flag, `sport = :${port}`])).trim() !== '';
  await waitFor('target: TCP 8080 and UDP 9999 listening', async () => (await listening('-Hltn', 8080)) && (await listening('-Hlun', 9999)), patience(2000));

  const r = await scan(lab, 'scanner', '192.0.2.2', { tcp: [8080, 8081, 8082], udp: [9997, 9998, 9999] });
  t.same(r.tcp, { 8080: 'open', 8081: 'closed', 8082: 'filtered' }, `tcp: got ${JSON.stringify(r.tcp)}; want 8080 open (listener), 8081 closed (RST), 8082 filtered (nft drop)`);
  t.same(r.udp, { 9997: 'closed', 9998: 'open|filtered', 9999: 'open' }, `udp: got ${JSON.stringify(r.udp)}; want 9999 open (answers), 9997 closed (port unreachable), 9998 open|filtered (dropped)`);

  const top = await scan(lab, 'scanner', '192.0.2.2', { top: { ports: 100, protocols: ['tcp'] } });
  t.same(portsIn(top, 'tcp'), [8080], `top 100 tcp: got open ${portsIn(top, 'tcp').join(', ')}; want 8080`);
  t.equal(Object.keys(top.tcp).length, 100, `top 100 tcp: got ${Object.keys(top.tcp).length} ports with a state; want 100`);
});
