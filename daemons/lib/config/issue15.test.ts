// Regression tests of issue 15 (outside security review): configs that pass
// the schema but break a box, YAML that parses into something else than
// written, and files that hang or exhaust a reader. Each row failed before
// the fix. Only load.js, errors.js and testkit.js are imported, so this file
// also runs against the code before the fix.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ErrorCode } from '../errors.js';
import { jsonSchema, loadConfig, parseConfig } from './index.js';
import { base, edit, failure } from './testkit.js';

interface Row {
  name: string;
  text: string;
  code: ErrorCode;
  /** Every issue reported, as "line path", in file order. */
  want: string[];
  /** The first issue's message must match. */
  message: RegExp;
}

// Line numbers refer to the base config in testkit.ts; appended lines start at 60.
const probes = (...lines: string[]): string => edit({}, ['probes:', ...lines]);

const semantic: Row[] = [
  // Ports the box binds twice.
  {
    name: 'STAMP port equal to the remote-user port',
    text: probes('  port: 51819'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['61 probes.port'], message: /^UDP port 51819 is overlay.remoteUserPort/,
  },
  {
    name: 'STAMP port inside the tunnel ports',
    text: probes('  port: 51840'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['61 probes.port'], message: /^UDP port 51840 is taken by a tunnel \(tunnels use 51836-51883/,
  },
  // Addresses off their subnet, or a subnet's own network and broadcast addresses.
  {
    name: 'LAN address outside the LAN prefixes',
    text: edit({ 14: '  address: 10.99.0.2/24', 40: '  vips: [10.99.0.1/24]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['14 lan.address'], message: /^10.99.0.2\/24 is outside the LAN prefixes \(lan.prefixes: 10.10.0.0\/24\)/,
  },
  {
    name: 'LAN subnet wider than the LAN prefix (an on-link route over addresses routed elsewhere)',
    text: edit({ 14: '  address: 10.10.0.2/16' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['14 lan.address'], message: /^10.10.0.2\/16 makes the LAN subnet 10.10.0.0\/16, wider than the LAN prefix 10.10.0.0\/24 that holds it; use a prefix length of at least \/24$/,
  },
  {
    name: 'WAN gateway off the WAN subnet',
    text: edit({ 9: '    gateway: 203.0.113.1' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['9 wans[0].gateway'], message: /^gateway 203.0.113.1 is outside the WAN subnet 198.51.100.0\/24/,
  },
  {
    name: 'WAN address is the network address',
    text: edit({ 8: '    address: 198.51.100.0/24' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['8 wans[0].address'], message: /^198.51.100.0\/24 is the network address of 198.51.100.0\/24/,
  },
  {
    name: 'WAN address is the broadcast address',
    text: edit({ 8: '    address: 198.51.100.255/24' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['8 wans[0].address'], message: /is the broadcast address of 198.51.100.0\/24/,
  },
  {
    name: 'WAN gateway is the broadcast address',
    text: edit({ 9: '    gateway: 198.51.100.255' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['9 wans[0].gateway'], message: /^198.51.100.255 is the broadcast address/,
  },
  {
    name: 'WAN address and gateway in 0.0.0.0/8',
    text: edit({ 8: '    address: 0.0.0.5/24', 9: '    gateway: 0.0.0.1' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['8 wans[0].address', '9 wans[0].gateway'], message: /is an unspecified address/,
  },
  {
    name: 'LAN address is the network address',
    text: edit({ 14: '  address: 10.10.0.0/24' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['14 lan.address'], message: /is the network address of 10.10.0.0\/24/,
  },
  {
    name: 'VIP is the broadcast address of the LAN',
    text: edit({ 40: '  vips: [10.10.0.255/24]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['40 pair.vips[0]'], message: /is the broadcast address of 10.10.0.0\/24/,
  },
  {
    name: 'VIP is a loopback address',
    text: edit({ 40: '  vips: [127.0.0.1/8]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['40 pair.vips[0]'], message: /is a loopback address/,
  },
  {
    name: "this site's overlay address is the overlay network's broadcast address",
    text: edit({ 17: '  address: 100.64.0.255/24' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['17 overlay.address'], message: /is the broadcast address of 100.64.0.0\/24/,
  },
  {
    name: "a site's overlay address is the overlay network's broadcast address",
    text: edit({ 21: '      overlayAddress: 100.64.0.255' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['21 overlay.sites[0].overlayAddress'], message: /is the broadcast address of 100.64.0.0\/24/,
  },
  {
    name: "a remote user on the overlay network's broadcast address",
    text: edit({ 36: '    address: 100.64.0.255/32' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['36 remoteUsers[0].address'], message: /is the broadcast address of 100.64.0.0\/24/,
  },
  {
    name: 'a remote user on 0.0.0.0',
    text: edit({ 36: '    address: 0.0.0.0/32' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['36 remoteUsers[0].address'], message: /is an unspecified address/,
  },
  {
    name: "a remote user's DNS server is multicast",
    text: edit({ 37: ['    allowedPrefixes: [10.10.0.0/24]', '    dns: [224.0.0.251]'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['38 remoteUsers[0].dns[0]'], message: /is a multicast address/,
  },
  {
    name: 'a remote LAN prefix in loopback space',
    text: edit({ 22: '      lanPrefixes: [127.0.0.0/8]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['22 overlay.sites[0].lanPrefixes[0]'], message: /^127.0.0.0\/8 overlaps the loopback range 127.0.0.0\/8/,
  },
  {
    name: 'a remote LAN prefix that is a default route (of the other family)',
    text: edit({ 22: '      lanPrefixes: ["::/0"]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['22 overlay.sites[0].lanPrefixes[0]'], message: /is a default route, not a LAN prefix/,
  },
  // PAIR.
  {
    name: 'the PAIR on a WAN interface',
    text: edit({ 39: ['  vrid: 10', '  interface: eth0'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['40 pair.interface'], message: /^interface 'eth0' carries WAN 'isp-a' \(wans\[0\].interface \(line 7\)\)/,
  },
  {
    name: 'a unicast peer that is a VIP',
    text: edit({ 41: ['  priority: 150', '  unicastPeers: [10.10.0.1]'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['42 pair.unicastPeers[0]'], message: /^10.10.0.1 is a VIP/,
  },
  {
    name: 'a unicast peer off the LAN (VRRP adverts carry TTL 255)',
    text: edit({ 41: ['  priority: 150', '  unicastPeers: [10.20.0.7]'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['42 pair.unicastPeers[0]'], message: /is outside the LAN subnet 10.10.0.0\/24/,
  },
  // Probes.
  {
    name: 'a probe class naming a site that does not exist',
    text: probes('  pathClasses:', '    - name: slow', '      paths: [isp-a/nosuch/*]', '      ratePerSec: 1'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['63 probes.pathClasses[0].paths[0]'], message: /^no site 'nosuch' in isp-a\/nosuch\/\*; sites: home, cloud$/,
  },
  {
    name: 'a probe class naming a local WAN that does not exist',
    text: probes('  pathClasses:', '    - name: slow', '      paths: [lte/*/*]', '      ratePerSec: 1'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['63 probes.pathClasses[0].paths[0]'], message: /^no local WAN 'lte'/,
  },
  {
    name: "a probe class naming a site's WAN that does not exist",
    text: probes('  pathClasses:', '    - name: slow', '      paths: [isp-a/home/lte]', '      ratePerSec: 1'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['63 probes.pathClasses[0].paths[0]'], message: /^site 'home' has no WAN 'lte'/,
  },
  {
    name: 'two probe classes with one name',
    text: probes('  pathClasses:', '    - name: slow', '      paths: [isp-a/*/*]', '      ratePerSec: 1', '    - name: slow', '      paths: [isp-b/*/*]', '      ratePerSec: 2'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['65 probes.pathClasses[1].name'], message: /^duplicate path class name 'slow'/,
  },
  {
    name: 'a broadcast probe target',
    text: probes('  wanTargets: [255.255.255.255]'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['61 probes.wanTargets[0]'], message: /is the limited broadcast address; a probe target must be a unicast host address$/,
  },
  {
    name: 'an unspecified probe target',
    text: probes('  wanTargets: ["::"]'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['61 probes.wanTargets[0]'], message: /is the unspecified address/,
  },
  {
    name: "a multicast probe target in a WAN's own list",
    text: probes('  wans:', '    - wan: isp-a', '      targets: ["ff02::1"]'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['63 probes.wans[0].targets[0]'], message: /is a multicast address/,
  },
  {
    name: "a probe target that is this box's own WAN address",
    text: probes('  wanTargets: [198.51.100.10]'),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['61 probes.wanTargets[0]'], message: /is this appliance's own address \(wans\[0\].address \(line 8\)\)/,
  },
  // MTU.
  {
    name: 'a WAN MTU below the tunnel MTU plus WireGuard overhead',
    text: edit({ 11: ['    downMbps: 250', '    mtu: 1420'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['12 wans[0].mtu'], message: /^MTU 1420 is below the tunnel MTU 1420 \(overlay.mtu\) \+ 60 bytes of WireGuard over IPv4; raise it to 1480 or lower overlay.mtu to 1360$/,
  },
  // Endpoints: loopback, this box itself, or inside what the tunnels carry.
  {
    name: 'a loopback endpoint',
    text: edit({ 32: '          endpoint: 127.0.0.1:51820' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['32 overlay.sites[1].wans[0].endpoint'], message: /is a loopback address/,
  },
  {
    name: 'an IPv6 loopback endpoint',
    text: edit({ 32: '          endpoint: "[::1]:51820"' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['32 overlay.sites[1].wans[0].endpoint'], message: /is the loopback address/,
  },
  {
    name: 'a localhost endpoint',
    text: edit({ 25: '          endpoint: localhost:51820' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['25 overlay.sites[0].wans[0].endpoint'], message: /^localhost is this box itself \(RFC 6761 localhost\); the endpoint of site 'home' must be an address reached across the WAN$/,
  },
  {
    name: 'a site talking to itself: the endpoint is this WAN',
    text: edit({ 32: '          endpoint: 198.51.100.10:51820' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['32 overlay.sites[1].wans[0].endpoint'], message: /is this appliance's own address \(wans\[0\].address \(line 8\)\); a site cannot build tunnels to itself$/,
  },
  {
    name: 'an endpoint inside a remote LAN (a tunnel carrying itself)',
    text: edit({ 32: '          endpoint: 10.20.0.5:51820' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['32 overlay.sites[1].wans[0].endpoint'], message: /lies in a LAN prefix of site 'home' 10.20.0.0\/24/,
  },
  {
    name: 'a loopback publicHost',
    text: edit({ 11: ['    downMbps: 250', '    publicHost: localhost'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['12 wans[0].publicHost'], message: /is this box itself/,
  },
  // Interfaces Tern makes itself.
  {
    name: "a LAN interface named like Tern's tunnels",
    text: edit({ 13: '  interface: tn1-2-00' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['13 lan.interface'], message: /^interface 'tn1-2-00' has a name Tern's daemons give their own interfaces \(tn\*\)/,
  },
  {
    name: "a WAN interface named like qosd's IFBs",
    text: edit({ 7: '    interface: tqi-isp-a' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['7 wans[0].interface'], message: /has a name Tern's daemons give their own interfaces \(tqi-\*\)/,
  },
  // Listeners and keys.
  {
    name: 'metrics listening on a multicast address',
    text: edit({}, ['metrics:', '  listen: 224.0.0.1:9273']),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['61 metrics.listen'], message: /is a multicast address/,
  },
];

const schema: Row[] = [
  {
    name: 'a key path climbing out of the key store with ..',
    text: edit({ 20: ['      publicKey: yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=', '      presharedKeyFile: /var/lib/tern/keys/../../../etc/shadow'] }),
    code: 'TERN_E_CONFIG_KEY', want: ['21 overlay.sites[0].presharedKeyFile'], message: /without '.', '..' or empty parts/,
  },
  {
    name: 'a key path of 300 characters',
    text: edit({ 17: ['  address: 100.64.0.1/24', `  privateKeyFile: /var/lib/tern/keys/${'k'.repeat(282)}`] }),
    code: 'TERN_E_CONFIG_KEY', want: ['18 overlay.privateKeyFile'], message: /at most 255 characters/,
  },
  {
    name: 'more probe targets than a WAN can be probed for',
    text: probes(`  wanTargets: [${Array.from({ length: 17 }, (_, i) => `203.0.113.${i + 1}`).join(', ')}]`),
    code: 'TERN_E_CONFIG_KEY', want: ['61 probes.wanTargets'], message: /^must list at most 16 items; got 17$/,
  },
  {
    name: 'a probe target listed twice',
    text: probes('  wanTargets: [203.0.113.1, 203.0.113.1]'),
    code: 'TERN_E_CONFIG_KEY', want: ['61 probes.wanTargets[1]'], message: /^repeats "203.0.113.1", already given as item 0$/,
  },
];

// Alias bomb: each level lists ten aliases of the one before (10^9 values).
const bomb = Array.from({ length: 9 }, (_, i) => (i === 0 ? 'b0: &b0 [x, x, x, x, x, x, x, x, x, x]' : `b${i}: &b${i} [${Array(10).fill(`*b${i - 1}`).join(', ')}]`));

const yaml: Row[] = [
  {
    name: 'a second YAML document is an error, not dropped',
    text: edit({}, ['---', 'version: 1']),
    code: 'TERN_E_CONFIG_PARSE', want: ['60 '], message: /^a second YAML document starts here/,
  },
  {
    name: 'an empty second document',
    text: edit({}, ['---']),
    code: 'TERN_E_CONFIG_PARSE', want: ['60 '], message: /^a second YAML document starts here/,
  },
  {
    name: "an undefined alias points at the alias's line",
    text: edit({ 10: '    upMbps: *speed' }),
    code: 'TERN_E_CONFIG_PARSE', want: ['10 '], message: /^alias \*speed names no anchor &speed before it$/,
  },
  {
    name: 'an alias inside its own anchor (a cycle) is an error, not a stack overflow',
    text: edit({ 10: '    upMbps: &speed [*speed]' }),
    code: 'TERN_E_CONFIG_PARSE', want: ['10 '], message: /^alias \*speed is inside the node its anchor &speed names \(a cycle\)$/,
  },
  {
    name: 'an alias bomb points at the alias that expands too far',
    text: edit({}, bomb),
    code: 'TERN_E_CONFIG_PARSE', want: ['65 '], message: /^alias \*b4 expands the file past 200000 values/,
  },
  {
    name: 'a deeply nested flow is a clear error, not a stack overflow',
    text: edit({ 10: `    upMbps: ${'['.repeat(100_000)}${']'.repeat(100_000)}` }),
    code: 'TERN_E_CONFIG_PARSE', want: ['10 '], message: /^nested more than 32 levels deep/,
  },
  {
    name: 'deep block nesting is refused as well',
    text: edit({}, ['deep:', ...Array.from({ length: 40 }, (_, i) => `${' '.repeat(2 * i + 2)}-`), `${' '.repeat(82)}x`]),
    code: 'TERN_E_CONFIG_PARSE', want: ['92 '], message: /^nested more than 32 levels deep/,
  },
];

function check(t: Tap.Test, rows: Row[]): void {
  for (const r of rows) {
    const f = failure(r.text);
    if (typeof f === 'string') { t.fail(`${r.name}: ${f}; want ${r.code}`); continue; }
    const got = f.issues.map((i) => `${i.line} ${i.path}`);
    t.ok(f.code === r.code && JSON.stringify(got) === JSON.stringify(r.want) && r.message.test(f.issues[0]?.message ?? ''),
      `${r.name}: got ${f.code} ${JSON.stringify(got)} ${JSON.stringify(f.issues[0]?.message)}; want ${r.code} ${JSON.stringify(r.want)} ${r.message}`);
  }
}

declare namespace Tap { type Test = import('tap').Test }

t.test('the base config loads', async (t) => {
  t.equal(base.length, 59, `got ${base.length} base lines; want 59`);
  t.doesNotThrow(() => parseConfig(edit(), 'tern.yaml'), 'got an error for the base config; want none');
});

t.test('configs that pass the schema but break a box are refused, at the key and line', async (t) => check(t, semantic));
t.test('lists, key paths and strings are bounded by the schema', async (t) => check(t, schema));
t.test('YAML that would parse into something else, or not at all', async (t) => check(t, yaml));

t.test('what a box legitimately does still loads', async (t) => {
  const ok: Array<[string, string]> = [
    ['a /32 WAN address with its gateway off-subnet (cloud VMs, on-link route)', edit({ 8: '    address: 198.51.100.10/32', 9: '    gateway: 198.51.100.1' })],
    ['a /31 WAN (RFC 3021: both addresses are hosts)', edit({ 8: '    address: 198.51.100.0/31', 9: '    gateway: 198.51.100.1' })],
    ['an IPv6 WAN with a link-local gateway', edit({ 8: '    address: 2001:db8:5::10/64', 9: '    gateway: fe80::1' })],
    ['a WAN MTU that fits the tunnel over IPv4', edit({ 11: ['    downMbps: 250', '    mtu: 1480'] })],
    ['metrics on every address', edit({}, ['metrics:', '  listen: 0.0.0.0:9273'])],
    ['a probe class with wildcards', probes('  pathClasses:', '    - name: slow', '      paths: [isp-b/*/inet, "*/cloud/*"]', '      ratePerSec: 1')],
    ['a preshared key file', edit({ 20: ['      publicKey: yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=', '      presharedKeyFile: /var/lib/tern/keys/home.psk'] })],
    ['an anchor used a few times', edit({ 22: '      lanPrefixes: &lans [10.20.0.0/24]', 37: '    allowedPrefixes: *lans' })],
  ];
  for (const [name, text] of ok) {
    const f = failure(text);
    t.equal(f, 'it loaded', `${name}: got ${typeof f === 'string' ? f : f.message}; want it to load`);
  }
});

t.test('every list and text in the schema has an upper bound', async (t) => {
  const loose: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (n.type === 'array' && typeof n.maxItems !== 'number') loose.push(`${at} (no maxItems)`);
    const fixed = Array.isArray(n.enum) || n.const !== undefined;
    if (n.type === 'string' && !fixed && typeof n.maxLength !== 'number') loose.push(`${at} (no maxLength)`);
    for (const [k, v] of Object.entries(n)) walk(v, `${at}/${k}`);
  };
  walk(jsonSchema(), '#');
  t.same(loose, [], `got unbounded lists or texts ${JSON.stringify(loose)}; want none`);
});

t.test('text over 1 MiB is refused before parsing (100 000 probe targets)', async (t) => {
  const targets = Array.from({ length: 100_000 }, (_, i) => `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const f = failure(probes(`  wanTargets: [${targets.join(', ')}]`));
  t.ok(typeof f !== 'string' && f.code === 'TERN_E_CONFIG_READ' && /over the limit/.test(f.message),
    `got ${typeof f === 'string' ? f : `${f.code} ${f.message.slice(0, 200)}`}; want TERN_E_CONFIG_READ over the limit`);
});

// Files that are not a config: refused by kind or size before any byte is read.
t.test('loadConfig refuses FIFOs, devices and huge files at once', { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-issue15-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'fifo.yaml');
  const made = spawnSync('mkfifo', [fifo]);
  t.equal(made.status, 0, `mkfifo: got ${made.status} ${made.stderr}; want 0`);
  // Sparse: the size is real, the disk use is not.
  const huge = path.join(dir, 'huge.yaml');
  fs.closeSync(fs.openSync(huge, 'w'));
  fs.truncateSync(huge, 2 * 1024 * 1024 * 1024);
  const big = path.join(dir, 'big.yaml');
  fs.writeFileSync(big, `${edit()}# ${'x'.repeat(1024 * 1024)}\n`);
  const link = path.join(dir, 'zero.yaml');
  fs.symlinkSync('/dev/zero', link);

  // The FIFO last: before the fix, reading it never returned.
  const rows: Array<[string, string, RegExp]> = [
    ['/dev/zero', '/dev/zero', /: is a character device;/],
    ['/dev/null', '/dev/null', /: is a character device;/],
    ['a symbolic link to /dev/zero', link, /: is a character device;/],
    ['a 2 GiB file', huge, /: 2147483648 bytes, over the limit; .*at most 1048576 bytes$/],
    ['a valid config padded past 1 MiB', big, /: [0-9]+ bytes, over the limit;/],
    ['a FIFO', fifo, /: is a FIFO \(named pipe\); expected the appliance configuration/],
  ];
  for (const [name, file, message] of rows) {
    const got = await loadConfig(file).then(() => 'it loaded', (e: unknown) => e as { code?: string; message?: string });
    t.ok(typeof got !== 'string' && got.code === 'TERN_E_CONFIG_READ' && message.test(got.message ?? ''),
      `${name}: got ${typeof got === 'string' ? got : `${got.code} ${got.message?.slice(0, 200)}`}; want TERN_E_CONFIG_READ matching ${message}`);
  }
});
