// Unit tests of the lab's internet (no root): the zone and nsd.conf it
// writes (checked by nsd's own checkers), and dig output parsing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { runSync } from './command.js';
import { internetServers, parseDig, renderNsdConf, renderZone, serverWith } from './internet.js';
import { defaultTopology, multiWanTopology } from './topology.js';

t.test('the zone holds every server name with the zone TTL', async (t) => {
  const topo = defaultTopology();
  const zone = renderZone(topo);
  const records = zone.split('\n').filter((l) => / IN A /.test(l));
  t.same(records, [
    'www.example.test. IN A 198.18.100.10',
    'inet.example.test. IN A 198.18.100.10',
    'saas1.example.test. IN A 198.18.100.21',
    '*.saas1.example.test. IN A 198.18.100.21',
    'saas2.example.test. IN A 198.18.100.22',
    '*.cdn.example.test. IN A 198.18.100.22',
    'ns1.example.test. IN A 198.18.100.53',
  ], `got A records ${JSON.stringify(records)}`);
  t.match(zone, /^\$TTL 10$/m, 'default TTL is the topology ttl');
  t.match(zone, /^@ IN SOA ns1\.example\.test\. hostmaster\.example\.test\. 1 3600 600 86400 10$/m, 'SOA minimum (negative TTL) is the ttl too');
  t.match(zone, /^@ IN NS ns1\.example\.test\.$/m, 'NS is dns1');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-zone-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'example.test.zone'), zone);
  const dns = serverWith(topo, 'dns');
  fs.writeFileSync(path.join(dir, 'nsd.conf'), renderNsdConf(topo.internet!, dns.address, dir));
  const zc = runSync(['nsd-checkzone', 'example.test', path.join(dir, 'example.test.zone')]);
  t.equal(zc.code, 0, `nsd-checkzone: got exit ${zc.code} (${zc.stdout.trim()} ${zc.stderr.trim()}); want 0`);
  const cc = runSync(['nsd-checkconf', path.join(dir, 'nsd.conf')]);
  t.equal(cc.code, 0, `nsd-checkconf: got exit ${cc.code} (${cc.stdout.trim()} ${cc.stderr.trim()}); want 0`);
});

t.test('a topology without an internet has no servers and no zone', async (t) => {
  t.same(internetServers(multiWanTopology()), [], 'multiwan: no servers');
  t.throws(() => renderZone(multiWanTopology()), { code: 'TERN_E_LAB_COMMAND' });
  t.throws(() => serverWith(multiWanTopology(), 'dns'), /no server runs dns/);
});

t.test('dig output is parsed', async (t) => {
  const answer = [
    ';; Got answer:',
    ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242',
    ';; flags: qr aa; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1',
    '',
    ';; OPT PSEUDOSECTION:',
    '; EDNS: version: 0, flags:; udp: 1232',
    '',
    ';; ANSWER SECTION:',
    'x1.cdn.example.test.\t10\tIN\tA\t198.18.100.22',
    '',
  ].join('\n');
  const cases: Array<[string, string, { status: string; flags: string[]; answers: Array<{ name: string; ttl: number; type: string; data: string }> }]> = [
    ['answer', answer, { status: 'NOERROR', flags: ['qr', 'aa'], answers: [{ name: 'x1.cdn.example.test.', ttl: 10, type: 'A', data: '198.18.100.22' }] }],
    ['nxdomain', ';; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n;; flags: qr aa; QUERY: 1, ANSWER: 0\n', { status: 'NXDOMAIN', flags: ['qr', 'aa'], answers: [] }],
    ['refused, no flags', ';; ->>HEADER<<- opcode: QUERY, status: REFUSED, id: 1\n;; flags: ; QUERY: 1, ANSWER: 0\n', { status: 'REFUSED', flags: [], answers: [] }],
  ];
  for (const [name, text, want] of cases) t.same(parseDig(text), want, `${name}: got ${JSON.stringify(parseDig(text))}`);
  t.throws(() => parseDig(';; connection timed out; no servers could be reached\n'), /dig output has no header/);
});
