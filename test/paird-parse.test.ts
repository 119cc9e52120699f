// The lab helpers' parsers (test/paird-lab.ts): fping -D streams, the
// takeover as tcpdump shows it, captured pair-sync datagrams. No lab needed.
import t from 'tap';
import { describeHits, parseStream, parseTakeover, pcapUdpPayloads } from './paird-lab.js';

const reply = (at: number, seq: number, rtt: number): string =>
  `[${(at / 1000).toFixed(5)}] 10.2.0.10 : [${seq}], 64 bytes, ${rtt.toFixed(2)} ms (0.5 avg, 0% loss)`;

t.test('parseStream: lost and late pings, each placed in time', async (t) => {
  // 10 pings every 10 ms from t=1000 s: 3-5 lost, 6 answered 80 ms late.
  const lines = [0, 1, 2, 7, 8, 9].map((seq) => reply(1_000_000 + 10 * seq + 0.5, seq, 0.5));
  lines.push(reply(1_000_000 + 60 + 80, 6, 80));
  const o = parseStream(lines.join('\n'), 10);
  t.equal(o.lost, 3, `lost: got ${o.lost}; want 3`);
  t.equal(o.late, 1, `late: got ${o.late}; want 1`);
  t.same(o.hits.map((h) => h.seq), [3, 4, 5, 6]);
  const cases = [
    { seq: 3, at: 1_000_030 },
    { seq: 5, at: 1_000_050 },
    { seq: 6, at: 1_000_060 },
  ];
  for (const c of cases) {
    const h = o.hits.find((x) => x.seq === c.seq)!;
    t.ok(Math.abs(h.sentAt - c.at) < 1, `seq ${c.seq} sent at: got ${h.sentAt}; want ${c.at}`);
  }
  t.equal(describeHits(o, 1_000_000), '3-5 @+30ms lost, 6 @+60ms late(80-80ms)');
  t.equal(describeHits(parseStream(lines.slice(0, 0).join('\n'), 0), 0), 'none');
});

t.test('parseStream: the longest run hit, at fping\'s own pace', async (t) => {
  // seqs answered at `at` ms (sent then, 0.5 ms RTT); the rest lost.
  const stream = (answered: Array<[number, number]>): string => answered.map(([seq, at]) => reply(at + 0.5, seq, 0.5)).join('\n');
  const even = (seqs: number[], pace: number): Array<[number, number]> => seqs.map((seq) => [seq, 1_000_000 + pace * seq]);
  const cases = [
    { name: 'nothing lost', text: stream(even([0, 1, 2, 3, 4, 5], 10)), sent: undefined, run: 0, pace: 10, runMs: 0, last: 6 },
    { name: 'a run of 3 and a single one, at 10 ms', text: stream(even([0, 1, 2, 6, 7, 9, 10], 10)), sent: undefined, run: 3, pace: 10, runMs: 30, last: 11 },
    // fping starved: 20 ms between sends; the run of 2 lost is 40 ms of outage, not 20.
    { name: 'a run of 2 at a 20 ms pace', text: stream(even([0, 1, 2, 5, 6], 20)), sent: undefined, run: 2, pace: 20, runMs: 40, last: 7 },
    // A stall of fping's own (seq 3 sent 300 ms after seq 2) hits nothing.
    { name: 'a stall of the sender, nothing lost', text: stream([[0, 0], [1, 10], [2, 20], [3, 320], [4, 330], [5, 340]]), sent: undefined, run: 0, pace: 10, runMs: 0, last: 6 },
    // -c N: the ones after the last answered count too.
    { name: 'the tail lost, -c 8', text: stream(even([0, 1, 2, 3], 10)), sent: 8, run: 4, pace: 10, runMs: 40, last: 8 },
  ];
  for (const c of cases) {
    const o = parseStream(c.text, c.sent);
    t.equal(o.sent, c.last, `${c.name}: sent: got ${o.sent}; want ${c.last}`);
    t.equal(o.longestRun, c.run, `${c.name}: longest run: got ${o.longestRun}; want ${c.run}`);
    t.equal(o.paceMs, c.pace, `${c.name}: pace: got ${o.paceMs}; want ${c.pace}`);
    t.equal(o.runMs, c.runMs, `${c.name}: run in ms: got ${o.runMs}; want ${c.runMs}`);
  }
});

t.test('parseTakeover: silence and first advert to gratuitous ARP', async (t) => {
  const text = [
    '1000.000000 IP 10.1.0.2 > 224.0.0.18: VRRPv3, Advertisement, vrid 1, prio 150, intvl 10cs, length 12',
    '1000.100000 IP 10.1.0.2 > 224.0.0.18: VRRPv3, Advertisement, vrid 1, prio 150, intvl 10cs, length 12',
    '1000.250000 ARP, Request who-has 10.1.0.1 tell 10.1.0.10, length 28',
    '1000.461000 IP 10.1.0.3 > 224.0.0.18: VRRPv3, Advertisement, vrid 1, prio 100, intvl 10cs, length 12',
    '1000.463500 ARP, Request who-has 10.1.0.1 (ff:ff:ff:ff:ff:ff) tell 10.1.0.1, length 28',
    '1000.561000 IP 10.1.0.3 > 224.0.0.18: VRRPv3, Advertisement, vrid 1, prio 100, intvl 10cs, length 12',
  ].join('\n');
  const got = parseTakeover(text, '10.1.0.3', '10.1.0.1');
  t.ok(Math.abs(got.silenceMs - 361) < 0.01, `silence: got ${got.silenceMs}; want 361`);
  t.ok(Math.abs(got.advertToGarpMs - 2.5) < 0.01, `advert to GARP: got ${got.advertToGarpMs}; want 2.5`);
  const none = parseTakeover(text.split('\n').slice(0, 3).join('\n'), '10.1.0.3', '10.1.0.1');
  t.ok(Number.isNaN(none.silenceMs) && Number.isNaN(none.advertToGarpMs), `no takeover in the capture: got ${JSON.stringify(none)}; want NaN, NaN`);
});

t.test('pcapUdpPayloads: the UDP payloads of a tcpdump -w file', async (t) => {
  const frame = (proto: number, payload: Buffer, ethertype = 0x0800): Buffer => {
    const ip = Buffer.alloc(20 + 8 + payload.length);
    ip[0] = 0x45;
    ip.writeUInt16BE(ip.length, 2);
    ip[9] = proto;
    Buffer.from([10, 1, 0, 3]).copy(ip, 12);
    Buffer.from([10, 1, 0, 2]).copy(ip, 16);
    payload.copy(ip, 28);
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(ethertype, 12);
    // Ethernet pads short frames: the IP total length says where the datagram ends.
    return Buffer.concat([eth, ip, Buffer.alloc(4)]);
  };
  const file = (le: boolean, frames: Buffer[]): Buffer => {
    const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); if (le) b.writeUInt32LE(v); else b.writeUInt32BE(v); return b; };
    const head = Buffer.concat([u32(0xa1b2c3d4), Buffer.from(le ? [2, 0, 4, 0] : [0, 2, 0, 4]), u32(0), u32(0), u32(262144), u32(1)]);
    return Buffer.concat([head, ...frames.flatMap((f) => [u32(1), u32(0), u32(f.length), u32(f.length), f])]);
  };
  const frames = [frame(17, Buffer.from('one')), frame(6, Buffer.from('tcp')), frame(17, Buffer.from('x'), 0x0806), frame(17, Buffer.from('two'))];
  for (const le of [true, false]) {
    const got = pcapUdpPayloads(file(le, frames)).map((p) => `${p.src}>${p.dst} ${p.payload.toString()}`);
    t.same(got, ['10.1.0.3>10.1.0.2 one', '10.1.0.3>10.1.0.2 two'], `${le ? 'little' : 'big'}-endian: got ${JSON.stringify(got)}`);
  }
  t.throws(() => pcapUdpPayloads(Buffer.from('not a pcap file at all, no')), /want a pcap file/);
});
