import t from 'tap';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ErrorCode } from '../errors.js';
import { loadConfig, parseConfig } from './load.js';
import { base, edit, failure } from './testkit.js';

interface Case {
  name: string;
  text: string;
  code: ErrorCode;
  /** Every issue reported, as "line path", in file order. */
  want: string[];
  /** The first issue's message must match. */
  message?: RegExp;
}

const cases: Case[] = [
  {
    name: 'YAML syntax error (tab indentation)',
    text: edit({ 4: '\tname: office-a' }),
    code: 'TERN_E_CONFIG_PARSE', want: ['4 '], message: /Tabs are not allowed/,
  },
  {
    name: 'YAML syntax error (unclosed quote)',
    text: edit({ 3: '  site: "office' }),
    code: 'TERN_E_CONFIG_PARSE', want: ['3 '], message: /Missing closing "quote/,
  },
  {
    name: 'duplicate key',
    text: edit({ 11: '    upMbps: 60' }),
    code: 'TERN_E_CONFIG_KEY', want: ['11 wans[0].upMbps'], message: /^duplicate key 'upMbps' \(first at line 10\)$/,
  },
  {
    name: 'unknown top-level key',
    text: edit({}, ['colour: blue']),
    code: 'TERN_E_CONFIG_KEY', want: ['60 colour'], message: /^unknown key 'colour'; expected one of: version, identity, wans, lan, overlay, remoteUsers, pair, probes, qos, appClasses, policies, firewall, internet, metrics, log$/,
  },
  {
    name: 'unknown nested key, with a suggestion',
    text: edit({ 10: '    upMpbs: 50' }),
    code: 'TERN_E_CONFIG_KEY', want: ['10 wans[0].upMpbs'], message: /^unknown key 'upMpbs' \(did you mean 'upMbps'\?\); expected one of: name, interface,/,
  },
  {
    name: 'unknown key in a flow mapping',
    text: edit({ 54: '    sla: {maxLoss: 1, maxLatencyMs: 150}' }),
    code: 'TERN_E_CONFIG_KEY', want: ['54 appClasses[0].sla.maxLoss'], message: /did you mean 'maxLossPct'/,
  },
  {
    name: 'missing required key: line of the parent',
    text: edit({ 4: [] }),
    code: 'TERN_E_CONFIG_KEY', want: ['2 identity.name'], message: /^missing required key 'name'/,
  },
  {
    name: 'missing required key in a list item: line of the item',
    text: edit({ 7: [] }),
    code: 'TERN_E_CONFIG_KEY', want: ['6 wans[0].interface'], message: /^missing required key 'interface'/,
  },
  {
    name: 'wrong type',
    text: edit({ 10: '    upMbps: fast' }),
    code: 'TERN_E_CONFIG_KEY', want: ['10 wans[0].upMbps'], message: /^must be a number > 0 and ≤ 100000 \(Mbit\/s\); got "fast"$/,
  },
  {
    name: 'wrong type: YAML 1.1 boolean',
    text: edit({ 11: ['    downMbps: 250', '    metered: yes'] }),
    code: 'TERN_E_CONFIG_KEY', want: ['12 wans[0].metered'], message: /^must be true or false; got "yes"$/,
  },
  {
    name: 'empty value',
    text: edit({ 10: '    upMbps:' }),
    code: 'TERN_E_CONFIG_KEY', want: ['10 wans[0].upMbps'], message: /got nothing$/,
  },
  {
    name: 'not a finite number',
    text: edit({ 10: '    upMbps: .inf' }),
    code: 'TERN_E_CONFIG_KEY', want: ['10 wans[0].upMbps'], message: /^must be a finite number; got \.inf$/,
  },
  {
    name: 'out-of-range number',
    text: edit({ 39: '  vrid: 300' }),
    code: 'TERN_E_CONFIG_KEY', want: ['39 pair.vrid'], message: /^must be an integer from 1 to 255; got 300$/,
  },
  {
    name: 'advert interval not in centiseconds',
    text: edit({ 41: '  advertIntervalMs: 15' }),
    code: 'TERN_E_CONFIG_KEY', want: ['41 pair.advertIntervalMs'], message: /^must be an integer from 10 to 40950, a multiple of 10 \(ms\); got 15$/,
  },
  {
    name: 'unsupported version',
    text: edit({ 1: 'version: 2' }),
    code: 'TERN_E_CONFIG_KEY', want: ['1 version'], message: /^must be 1 \(the config version this Tern reads\); got 2$/,
  },
  {
    name: 'bad enum',
    text: edit({ 58: '    mode: fastest' }),
    code: 'TERN_E_CONFIG_KEY', want: ['58 policies[0].mode'], message: /^must be one of best, weighted, affinity, spray; got "fastest"$/,
  },
  {
    name: 'bad enum inside a flow mapping',
    text: edit({ 17: ['  topology: star', '  address: 100.64.0.1/24'] }),
    code: 'TERN_E_CONFIG_KEY', want: ['17 overlay.topology'], message: /^must be one of mesh, hub-spoke; got "star"$/,
  },
  {
    name: 'bad CIDR: host bits in a prefix',
    text: edit({ 15: '  prefixes: [10.10.0.1/24]' }),
    code: 'TERN_E_CONFIG_KEY', want: ['15 lan.prefixes[0]'], message: /got "10.10.0.1\/24" \(host bits set; did you mean 10.10.0.0\/24\?\)$/,
  },
  {
    name: 'bad CIDR: prefix length',
    text: edit({ 14: '  address: 10.10.0.2/33' }),
    code: 'TERN_E_CONFIG_KEY', want: ['14 lan.address'], message: /\(prefix length 33 is over 32\)$/,
  },
  {
    name: 'bad IP address',
    text: edit({ 9: '    gateway: 198.51.100.300' }),
    code: 'TERN_E_CONFIG_KEY', want: ['9 wans[0].gateway'], message: /^must be an IP address, like .*; got "198.51.100.300" \(300 is over 255\)$/,
  },
  {
    name: 'bad WireGuard key (43 characters)',
    text: edit({ 20: '      publicKey: yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTH=' }),
    code: 'TERN_E_CONFIG_KEY', want: ['20 overlay.sites[0].publicKey'], message: /^must be a WireGuard key/,
  },
  {
    name: 'bad WireGuard key (not 32 bytes: last character has low bits set)',
    text: edit({ 35: '    publicKey: bu73hXWXtZZhKjLnZ9cYLzbfxjvHjD+tOEBRhGorqU1=' }),
    code: 'TERN_E_CONFIG_KEY', want: ['35 remoteUsers[0].publicKey'], message: /^must be a WireGuard key/,
  },
  {
    name: 'interface name too long',
    text: edit({ 7: '    interface: enp0s31f6-uplink0' }),
    code: 'TERN_E_CONFIG_KEY', want: ['7 wans[0].interface'], message: /at most 15 characters; got "enp0s31f6-uplink0"$/,
  },
  {
    name: 'bad port in an endpoint',
    text: edit({ 25: '          endpoint: home.example.net:70000' }),
    code: 'TERN_E_CONFIG_KEY', want: ['25 overlay.sites[0].wans[0].endpoint'], message: /\(port 70000 is outside 1-65535\)$/,
  },
  {
    name: 'bad port in a list of ports and ranges',
    text: edit({ 53: '    match: {protocols: [udp], ports: [5060, "20000-10000"]}' }),
    code: 'TERN_E_CONFIG_KEY', want: ['53 appClasses[0].match.ports[1]'], message: /^must be an integer from 1 to 65535, or a port range .*\(low 20000 is above high 10000\)$/,
  },
  {
    name: 'repeated list item',
    text: edit({ 59: '    preferWans: [isp-a, isp-a]' }),
    code: 'TERN_E_CONFIG_KEY', want: ['59 policies[0].preferWans[1]'], message: /^repeats "isp-a", already given as item 0$/,
  },
  {
    name: 'empty file',
    text: '# nothing yet\n',
    code: 'TERN_E_CONFIG_KEY', want: ['1 '], message: /the file is empty/,
  },
  {
    name: 'duplicate WAN name',
    text: edit({ 11: ['    downMbps: 250', '  - name: isp-a', '    interface: eth2', '    dhcp: true', '    upMbps: 10', '    downMbps: 10'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['12 wans[1].name'], message: /^duplicate WAN name 'isp-a'; wans\[0\].name \(line 6\) has it already$/,
  },
  {
    name: 'static address and dhcp together',
    text: edit({ 9: ['    gateway: 198.51.100.1', '    dhcp: true'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['10 wans[0].dhcp'], message: /not both/,
  },
  {
    name: 'duplicate site id',
    text: edit({ 26: '    - id: home' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['26 overlay.sites[1].id'], message: /^duplicate site id 'home'; overlay.sites\[0\].id \(line 19\) has it already$/,
  },
  {
    name: "remote site with this site's own id",
    text: edit({ 19: '    - id: office' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['19 overlay.sites[0].id'], message: /own id/,
  },
  {
    name: 'overlapping prefixes: remote LAN over the local LAN',
    text: edit({ 22: '      lanPrefixes: [10.10.0.0/16]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['22 overlay.sites[0].lanPrefixes[0]'], message: /^LAN prefix of site 'home' 10.10.0.0\/16 overlaps LAN prefix 10.10.0.0\/24 at lan.prefixes\[0\] \(line 15\)$/,
  },
  {
    name: 'overlapping prefixes: two remote sites',
    text: edit({ 29: '      lanPrefixes: [10.20.0.0/16]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['29 overlay.sites[1].lanPrefixes[0]'], message: /overlaps LAN prefix of site 'home' 10.20.0.0\/24/,
  },
  {
    name: "overlapping prefixes: a remote user's address in a LAN",
    text: edit({ 36: '    address: 10.30.0.5/32' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['36 remoteUsers[0].address'], message: /overlaps LAN prefix of site 'cloud'/,
  },
  {
    name: 'remote user address that is not a host prefix',
    text: edit({ 36: '    address: 100.64.0.101/24' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['36 remoteUsers[0].address'], message: /host prefix \(\/32\)/,
  },
  {
    name: 'dangling reference: policy to app class',
    text: edit({ 57: '  - appClass: video' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['57 policies[0].appClass'], message: /^no app class 'video'; app classes: voice, default$/,
  },
  {
    name: 'dangling reference: policy to WAN',
    text: edit({ 59: '    preferWans: [isp-a, isp-c]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['59 policies[0].preferWans[1]'], message: /^no WAN 'isp-c'; WANs: isp-a, isp-b/,
  },
  {
    name: 'dangling reference: pair.track to a WAN of the peer',
    text: edit({ 44: '    - wan: isp-b' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['44 pair.track[0].wan'], message: /^no WAN 'isp-b'; WANs: isp-a$/,
  },
  {
    name: 'dangling reference: qos to WAN',
    text: edit({ 49: '    - wan: isp-z' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['49 qos.wans[0].wan'], message: /^no WAN 'isp-z'/,
  },
  {
    name: 'hub-spoke without hub: line of overlay',
    text: edit({ 17: ['  topology: hub-spoke', '  address: 100.64.0.1/24'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['16 overlay.hub'], message: /^missing required key 'hub'/,
  },
  {
    name: 'hub that is no known site',
    text: edit({ 17: ['  topology: hub-spoke', '  hub: hq', '  address: 100.64.0.1/24'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['18 overlay.hub'], message: /^no site 'hq'; known sites: office, home, cloud$/,
  },
  {
    name: 'autorate min above max',
    text: edit({ 50: '      autorate: {enabled: true, minUpMbps: 60, maxUpMbps: 50, minDownMbps: 100, maxDownMbps: 250}' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['50 qos.wans[0].autorate.minUpMbps'], message: /^minUpMbps 60 is above maxUpMbps 50$/,
  },
  {
    name: 'WAN without bandwidth while QoS shapes it: line of the WAN',
    text: edit({ 11: [] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['6 wans[0].downMbps'], message: /^missing required key 'downMbps': QoS shapes this WAN/,
  },
  {
    name: 'weights without mode weighted',
    text: edit({ 59: '    weights: {isp-a: 1}' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['59 policies[0].weights'], message: /^weights apply only to mode weighted; mode is best$/,
  },
  {
    name: 'dangling reference: weights to a WAN that is not there (internet steering)',
    text: edit({ 58: '    mode: weighted', 59: '    weights: {isp-a: 3, lte: 1}' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['59 policies[0].weights.lte'], message: /^no WAN 'lte'; WANs: isp-a, isp-b/,
  },
  {
    name: 'VIP outside the LAN subnet',
    text: edit({ 40: '  vips: [10.99.0.1/24]' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['40 pair.vips[0]'], message: /outside the LAN subnet 10.10.0.0\/24/,
  },
  {
    name: 'the same WireGuard key for a site and a user',
    text: edit({ 35: '    publicKey: yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['35 remoteUsers[0].publicKey'], message: /^duplicate WireGuard public key .*overlay.sites\[0\].publicKey \(line 20\)/,
  },
  {
    name: "a remote user on a site's overlay address",
    text: edit({ 36: '    address: 100.64.0.2/32' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['36 remoteUsers[0].address'], message: /is a site's overlay address \(overlay.sites\[0\].overlayAddress \(line 21\)\)$/,
  },
  {
    name: 'overlay address outside the overlay network',
    text: edit({ 21: '      overlayAddress: 100.65.0.2' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['21 overlay.sites[0].overlayAddress'], message: /outside the overlay network 100.64.0.0\/24/,
  },
  {
    name: 'tunnel ports past 65535 for a high site number',
    text: edit({ 17: ['  address: 100.64.0.1/16', '  listenPort: 60000'], 28: '      overlayAddress: 100.64.2.3' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['18 overlay.listenPort'], message: /^tunnels to site number 515 need ports up to 68255, past 65535/,
  },
  {
    name: 'remote user port inside the tunnel ports',
    text: edit({ 17: ['  address: 100.64.0.1/24', '  remoteUserPort: 51860'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['18 overlay.remoteUserPort'], message: /^port 51860 is taken by a tunnel \(tunnels use 51836-51883\)$/,
  },
  {
    name: 'more than 4 WANs on a remote site',
    text: edit({ 31: ['        - name: a', '          endpoint: 203.0.113.30:51820', '        - name: b', '          endpoint: 203.0.113.31:51820',
      '        - name: c', '          endpoint: 203.0.113.32:51820', '        - name: d', '          endpoint: 203.0.113.33:51820', '        - name: e'] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['30 overlay.sites[1].wans'], message: /^site 'cloud' lists 5 WANs; at most 4 are supported$/,
  },
  {
    name: 'static address without gateway: line of the WAN',
    text: edit({ 9: [] }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['6 wans[0].gateway'], message: /^missing required key 'gateway'/,
  },
  {
    name: 'priority 255 without owning the VIP, and with tracking',
    text: edit({ 41: '  priority: 255' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['41 pair.priority', '43 pair.track'], message: /^255 is for the owner of the VIP address/,
  },
  {
    name: 'ports with a protocol that has none',
    text: edit({ 53: '    match: {protocols: [icmp], ports: [5060]}' }),
    code: 'TERN_E_CONFIG_SEMANTIC', want: ['53 appClasses[0].match.ports'], message: /^ports need protocol tcp, udp or any; protocols are icmp$/,
  },
  {
    name: 'several schema errors are all reported, in file order',
    text: edit({ 7: '    interface: enp0s31f6-uplink0', 10: '    upMbps: fast', 39: '  vrid: 0', 58: '    mode: fastest' }, ['colour: blue']),
    code: 'TERN_E_CONFIG_KEY',
    want: ['7 wans[0].interface', '10 wans[0].upMbps', '39 pair.vrid', '58 policies[0].mode', '60 colour'],
  },
  {
    name: 'several semantic errors are all reported, in file order',
    text: edit({ 19: '    - id: office', 29: '      lanPrefixes: [10.20.0.0/16]', 44: '    - wan: isp-b', 57: '  - appClass: video' }),
    code: 'TERN_E_CONFIG_SEMANTIC',
    want: ['19 overlay.sites[0].id', '29 overlay.sites[1].lanPrefixes[0]', '44 pair.track[0].wan', '57 policies[0].appClass'],
  },
];

t.test('the base config of the cases is valid', async (t) => {
  t.equal(base.length, 59, `got ${base.length} base lines; want 59 (the cases' line numbers depend on it)`);
  t.doesNotThrow(() => parseConfig(edit(), 'tern.yaml'), 'got an error for the base config; want none');
});

t.test('malformed configs: every error names key path and line', async (t) => {
  t.ok(cases.length >= 20, `got ${cases.length} cases; want at least 20`);
  for (const c of cases) {
    const f = failure(c.text);
    if (typeof f === 'string') { t.fail(`${c.name}: ${f}; want ${c.code}`); continue; }
    t.equal(f.code, c.code, `${c.name}: got code ${f.code}; want ${c.code}\n${f.message}`);
    const got = f.issues.map((i) => `${i.line} ${i.path}`);
    t.same(got, c.want, `${c.name}: got issues ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}\n${f.message}`);
    for (const i of f.issues) {
      t.equal(i.code, c.code, `${c.name}: got issue code ${i.code}; want ${c.code}`);
      t.ok(i.column >= 1, `${c.name}: got column ${i.column}; want >= 1`);
    }
    if (c.message) {
      const first = f.issues[0]?.message ?? '';
      t.match(first, c.message, `${c.name}: got message ${JSON.stringify(first)}; want ${c.message}`);
    }
  }
});

t.test('the error message lists every issue as file:line: path: message', async (t) => {
  const f = failure(edit({ 10: '    upMbps: fast', 39: '  vrid: 300' }));
  if (typeof f === 'string') { t.fail(`${f}; want an error`); return; }
  const want = [
    'config: check tern.yaml: 2 errors',
    'tern.yaml:10: wans[0].upMbps: must be a number > 0 and ≤ 100000 (Mbit/s); got "fast"',
    'tern.yaml:39: pair.vrid: must be an integer from 1 to 255; got 300',
  ].join('\n');
  t.equal(f.message, want, `got message\n${f.message}\nwant\n${want}`);
  const issue = f.issues[0];
  t.same(issue, {
    path: 'wans[0].upMbps', line: 10, column: 13, message: 'must be a number > 0 and ≤ 100000 (Mbit/s); got "fast"', code: 'TERN_E_CONFIG_KEY',
  }, `got ${JSON.stringify(issue)}; want the upMbps issue at 10:13`);
});

t.test('a YAML error names line and column', async (t) => {
  const f = failure(edit({ 4: '\tname: office-a' }));
  if (typeof f === 'string') { t.fail(`${f}; want an error`); return; }
  t.match(f.message, /^config: parse tern.yaml: 1 YAML error\ntern.yaml:4:1: Tabs are not allowed as indentation/, `got ${f.message}`);
});

t.test('defaults are applied', async (t) => {
  const { config } = parseConfig(edit(), 'tern.yaml');
  const checks: Array<[string, unknown, unknown]> = [
    ['wans[0].dhcp', config.wans[0]?.dhcp, false],
    ['wans[0].metered', config.wans[0]?.metered, false],
    ['wans[0].cost', config.wans[0]?.cost, 10],
    ['overlay.topology', config.overlay.topology, 'mesh'],
    ['overlay.listenPort', config.overlay.listenPort, 51820],
    ['overlay.mtu', config.overlay.mtu, 1420],
    ['overlay.keepaliveSec', config.overlay.keepaliveSec, 25],
    ['overlay.sites[0].wans[0].behindNat', config.overlay.sites[0]?.wans[0]?.behindNat, false],
    ['remoteUsers[0].revoked', config.remoteUsers[0]?.revoked, false],
    ['pair.enabled', config.pair?.enabled, true],
    ['pair.advertIntervalMs', config.pair?.advertIntervalMs, 100],
    ['pair.checksum', config.pair?.checksum, 'rfc9568'],
    ['pair.garp.count', config.pair?.garp.count, 3],
    ['pair.unicastPeers', config.pair?.unicastPeers, []],
    ['probes.pathRatePerSec', config.probes.pathRatePerSec, 5],
    ['probes.port', config.probes.port, 862],
    ['probes.degraded.lossPct', config.probes.degraded.lossPct, 5],
    ['probes.history.hourDays', config.probes.history.hourDays, 365],
    ['qos.overheadBytes', config.qos.overheadBytes, 44],
    ['qos.wans[0].enabled', config.qos.wans[0]?.enabled, true],
    ['qos.wans[0].autorate.latencyTargetMs', config.qos.wans[0]?.autorate.latencyTargetMs, 15],
    ['qos.classes.realtime.dscp', config.qos.classes.realtime.dscp, [46, 44, 40]],
    ['appClasses[0].qosClass', config.appClasses[0]?.qosClass, 'realtime'],
    ['policies[0].sticky.holdSec', config.policies[0]?.sticky.holdSec, 30],
    ['metrics.listen', config.metrics.listen, '127.0.0.1:9273'],
    ['log.level', config.log.level, 'info'],
  ];
  for (const [key, got, want] of checks) t.same(got, want, `${key}: got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
  // Sections left out entirely get their defaults too.
  const minimal = parseConfig(edit({ 33: [], 34: [], 35: [], 36: [], 37: [] }).split('\npair:')[0] + '\n').config;
  t.same(minimal.remoteUsers, [], `remoteUsers: got ${JSON.stringify(minimal.remoteUsers)}; want []`);
  t.equal(minimal.pair, undefined, `pair: got ${JSON.stringify(minimal.pair)}; want absent`);
  t.equal(minimal.qos.enabled, false, `qos.enabled: got ${minimal.qos.enabled}; want false`);
  t.equal(minimal.probes.upAfter, 10, `probes.upAfter: got ${minimal.probes.upAfter}; want 10`);
});

t.test('parseConfig returns file, text and sha256', async (t) => {
  const text = edit();
  const loaded = parseConfig(text);
  t.equal(loaded.file, '<inline>', `file: got ${loaded.file}; want <inline>`);
  t.equal(loaded.text, text, 'text: got something else; want the text given');
  const want = createHash('sha256').update(text).digest('hex');
  t.equal(loaded.hash, want, `hash: got ${loaded.hash}; want ${want}`);
});

t.test('loadConfig reads a file and names it in errors', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

  const good = path.join(dir, 'tern.yaml');
  fs.writeFileSync(good, edit());
  const loaded = await loadConfig(good);
  t.equal(loaded.file, good, `file: got ${loaded.file}; want ${good}`);
  t.equal(loaded.config.identity.site, 'office', `site: got ${loaded.config.identity.site}; want office`);

  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, edit({ 10: '    upMbps: fast' }));
  await t.rejects(loadConfig(bad), { code: 'TERN_E_CONFIG_KEY', message: new RegExp(`\n${bad.replace(/[.]/g, '\\.')}:10: wans\\[0\\]\\.upMbps: `) },
    'got another error; want TERN_E_CONFIG_KEY naming the file and line 10');

  const missing = path.join(dir, 'nope', 'tern.yaml');
  await t.rejects(loadConfig(missing), {
    code: 'TERN_E_CONFIG_READ',
    message: `config: read ${missing}: no such file; expected the appliance configuration (tern.yaml) there, a regular file of at most 1048576 bytes`,
    details: { file: missing, errno: 'ENOENT' },
  }, 'got another error; want TERN_E_CONFIG_READ naming the path');

  await t.rejects(loadConfig(dir), { code: 'TERN_E_CONFIG_READ', message: /is a directory/ }, 'got another error; want TERN_E_CONFIG_READ for a directory');
});
