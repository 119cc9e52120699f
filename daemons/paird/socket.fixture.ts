// Test fixture for socket.test.ts: run inside a private network namespace
// (unshare -n) holding a veth pair va (10.9.0.1, fe80::a) / vb (10.9.0.2,
// fe80::b); exercises the native VRRP and packet sockets for real and
// prints what it saw as one JSON line.
import { execFileSync } from 'node:child_process';
import { loadNative } from '../lib/native/index.js';
import { gratuitousArp } from './garp.js';
import { decode, encode, vrrpGroupV4, vrrpGroupV6 } from './packet.js';
import { nativeAdvertSocket, type MalformedDatagram, type ReceivedAdvert } from './socket.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const native = loadNative();
const open = nativeAdvertSocket(native);
const got: Record<string, Array<ReceivedAdvert | MalformedDatagram>> = { a4: [], b4: [], a6: [], b6: [] };
const a4 = open('va', 4, (p) => got.a4!.push(p));
const b4 = open('vb', 4, (p) => got.b4!.push(p));
const a6 = open('va', 6, (p) => got.a6!.push(p));
const b6 = open('vb', 6, (p) => got.b6!.push(p));
const adv = (src: string, dst: string, priority: number, addresses: string[]): Buffer =>
  encode({ vrid: 9, priority, intervalMs: 100, addresses }, { src, dst, mode: 'keepalived' });

a4.send('10.9.0.1', vrrpGroupV4, adv('10.9.0.1', vrrpGroupV4, 150, ['10.9.0.254']));
a4.send('10.9.0.1', '10.9.0.2', adv('10.9.0.1', '10.9.0.2', 151, ['10.9.0.254']));
a6.send('fe80::a', vrrpGroupV6, adv('fe80::a', vrrpGroupV6, 152, ['fe80::200:5eff:fe00:209']));
let refused = '';
try { a4.send('10.9.0.1', 'fe80::b', Buffer.from([0x31])); } catch (err) { refused = (err as { code?: string }).code ?? String(err); }
await sleep(300);

const summary = (p: ReceivedAdvert | MalformedDatagram, mode: 'keepalived'): unknown => {
  if (!p.ok) return { malformed: p.detail };
  const d = decode(p.payload, { src: p.src, dst: p.dst, ttl: p.ttl, mode });
  return { src: p.src, dst: p.dst, ttl: p.ttl, ok: d.ok, priority: d.ok ? d.advert.priority : null, reason: d.ok ? null : d.reason };
};

// The beacon: one send, then silence from JS.
b4.beacon(50, 500);
b4.send('10.9.0.2', vrrpGroupV4, adv('10.9.0.2', vrrpGroupV4, 99, ['10.9.0.254']));
await sleep(1000);
const beaconAt1s = b4.stats().beaconSent;
await sleep(500);
const beaconAt15s = b4.stats().beaconSent;
const heardBeacons = got.a4!.filter((p) => p.ok && p.src === '10.9.0.2').length;
b4.beacon(0, 0);

// A gratuitous ARP for 10.9.0.77 from va updates vb's (stale) neighbour entry.
execFileSync('ip', ['neigh', 'replace', '10.9.0.77', 'lladdr', '02:00:00:00:00:01', 'dev', 'vb', 'nud', 'stale']);
const ether = native.etherOpen('va');
native.etherSend(ether, gratuitousArp({ mac: '02:00:00:00:00:77', address: '10.9.0.77' }));
let shortFrame = '';
try { native.etherSend(ether, Buffer.alloc(10)); } catch (err) { shortFrame = (err as { code?: string }).code ?? String(err); }
native.etherClose(ether);
await sleep(200);
const neigh = execFileSync('ip', ['neigh', 'show', '10.9.0.77', 'dev', 'vb']).toString().trim();

const statsBeforeClose = b4.stats();
for (const s of [a4, b4, a6, b6]) s.close();
let afterClose = '';
try { a4.send('10.9.0.1', vrrpGroupV4, Buffer.from([0x31])); } catch (err) { afterClose = (err as { code?: string }).code ?? String(err); }

process.stdout.write(`${JSON.stringify({
  b4: got.b4!.map((p) => summary(p, 'keepalived')),
  b6: got.b6!.map((p) => summary(p, 'keepalived')),
  a4own: got.a4!.filter((p) => p.ok && p.src === '10.9.0.1').length,
  refused, beaconAt1s, beaconAt15s, heardBeacons, neigh, shortFrame, afterClose,
  sent: statsBeforeClose.sent, receiving: statsBeforeClose.receiving,
})}\n`);
// The process must exit by itself: closed sockets hold no thread and no loop reference.
