import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseIpv4 } from './ipv4.js';
import { readDatagram } from './socket.js';

t.test('readDatagram: IPv4 facts from the header, IPv6 facts from the kernel', async (t) => {
  // 20-byte header (TTL 255, protocol 112, 10.1.0.2 -> 224.0.0.18) + 12-byte advert.
  const v4 = Buffer.from('45000020da6a4000ff70b6e60a010002e000001231339601000ac2ddc0a80a01', 'hex');
  const r = readDatagram(4, { data: v4, src: '10.1.0.2', dst: '224.0.0.18', ttl: 255 });
  t.same(r.ok && { src: r.src, dst: r.dst, ttl: r.ttl, len: r.payload.length }, { src: '10.1.0.2', dst: '224.0.0.18', ttl: 255, len: 12 });
  const icmp = Buffer.from(v4);
  icmp[9] = 1;
  t.match(readDatagram(4, { data: icmp, src: '', dst: '', ttl: -1 }), { ok: false, detail: /got IP protocol 1; want 112/ });
  t.match(readDatagram(4, { data: v4.subarray(0, 10), src: '', dst: '', ttl: -1 }), { ok: false, detail: /want an IPv4 header/ });
  const payload = Buffer.from([0x31]);
  t.same(readDatagram(6, { data: payload, src: 'fe80::a', dst: 'ff02::12', ttl: 255 }), { ok: true, src: 'fe80::a', dst: 'ff02::12', ttl: 255, payload });
  t.match(readDatagram(6, { data: payload, src: 'fe80::a', dst: '', ttl: 255 }), { ok: false, detail: /IPV6_PKTINFO/ });
  t.match(readDatagram(6, { data: payload, src: 'fe80::a', dst: 'ff02::12', ttl: -1 }), { ok: false, detail: /IPV6_HOPLIMIT/ });
  t.equal(parseIpv4(v4).ok, true);
});

// The native sockets for real, in a private network namespace that
// disappears with the process (nothing to clean up, nothing else touched).
const root = process.getuid?.() === 0 && spawnSync('unshare', ['--version']).status === 0;
t.test('native sockets in a private namespace', { skip: root ? false : 'needs root and unshare' }, async (t) => {
  const fixture = fileURLToPath(new URL('./socket.fixture.js', import.meta.url));
  const setup = [
    'set -e', 'ip link set lo up', 'ip link add va type veth peer name vb',
    // Both ends live in one namespace: let each accept the other's (local) source.
    'for i in all va vb; do sysctl -qw net.ipv4.conf.$i.accept_local=1 net.ipv4.conf.$i.rp_filter=0; done',
    // Links up (with carrier) before the addresses, so none is pending when the fixture sends.
    'ip link set va up', 'ip link set vb up',
    'ip addr add 10.9.0.1/24 dev va', 'ip addr add 10.9.0.2/24 dev vb',
    'ip addr add fe80::a/64 dev va nodad', 'ip addr add fe80::b/64 dev vb nodad',
    'for i in 1 2 3 4 5 6 7 8 9 10; do ip -6 addr show tentative | grep -q inet6 || break; sleep 0.1; done', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(fixture)}`,
  ].join('\n');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', setup], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, `fixture exit: got ${r.status} (${r.signal}); want 0 — it must exit by itself after closing. stderr: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  t.same(out.b4, [
    { src: '10.9.0.1', dst: '224.0.0.18', ttl: 255, ok: true, priority: 150, reason: null },
    { src: '10.9.0.1', dst: '10.9.0.2', ttl: 255, ok: true, priority: 151, reason: null },
  ], 'IPv4: multicast and unicast arrive with TTL 255 from the pinned source, checksums intact');
  t.same(out.b6, [{ src: 'fe80::a', dst: 'ff02::12', ttl: 255, ok: true, priority: 152, reason: null }], 'IPv6: hop limit 255 from the link-local source');
  t.equal(out.a4own, 0, 'no multicast loopback: a socket never hears its own adverts');
  t.equal(out.refused, 'TERN_E_PAIRD_SOCKET', 'a destination of the other family is refused');
  const at1 = out.beaconAt1s as number;
  t.ok(at1 >= 3 && at1 <= 9, `beacon adverts while JS was silent: got ${at1}; want 3-9 (every 62.5 ms for up to 500 ms)`);
  t.equal(out.beaconAt15s, at1, 'the beacon stopped after maxStallMs');
  t.equal(out.heardBeacons, 1 + at1, 'the other end heard every beacon advert');
  t.match(out.neigh, /lladdr 02:00:00:00:00:77/, `the gratuitous ARP updated the neighbour: got "${out.neigh}"`);
  t.equal(out.shortFrame, 'TERN_E_NATIVE_ARG', 'a frame shorter than an Ethernet header is refused');
  t.equal(out.afterClose, 'TERN_E_PAIRD_SOCKET', 'a closed socket refuses to send');
  t.equal(out.receiving, true, 'the receive thread ran until close');
});
