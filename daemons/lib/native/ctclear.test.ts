// ctClear's logic through debugCtClear (an in-memory conntrack table; the
// provoke packets are answered instead of sent): which entries go, which
// clients are provoked, and the provoke's bytes, checked here with a
// checksum written independently of the Rust one. The kernel side is in
// ctclear-netns.test.ts.
import t from 'tap';
import { loadNative } from './index.js';

const native = loadNative();

interface Entry { family: 4 | 6; protocol: number; src: string; srcPort: number; dst: string; dstPort: number; mark: number; tcpState: number }

/** The 16 record bytes of an IPv4 dotted or a fully written IPv6 address. */
function addressBytes(text: string): Buffer {
  const out = Buffer.alloc(16);
  if (text.includes('.')) {
    Buffer.from(text.split('.').map(Number)).copy(out);
  } else {
    text.split(':').forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  }
  return out;
}

/** ctDump records with byte 38 = the TCP state, as debugCtClear reads them. */
function records(entries: readonly Entry[]): Buffer {
  const out = Buffer.alloc(entries.length * 80);
  entries.forEach((e, i) => {
    const at = i * 80;
    out[at] = e.family;
    out[at + 1] = e.protocol;
    out.writeUInt16LE(e.srcPort, at + 2);
    out.writeUInt16LE(e.dstPort, at + 4);
    addressBytes(e.src).copy(out, at + 6);
    addressBytes(e.dst).copy(out, at + 22);
    out[at + 38] = e.tcpState;
    out.writeUInt32LE(e.mark >>> 0, at + 40);
  });
  return out;
}

/** RFC 1071 over the concatenation: 0 when a header or segment carries its right checksum. */
function onesSum(...parts: Buffer[]): number {
  const b = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return 0xffff - sum;
}

const wan = 0x1f0000;
const tcp = (srcPort: number, state: number, mark = wan): Entry =>
  ({ family: 4, protocol: 6, src: '10.20.0.5', srcPort, dst: '198.18.100.10', dstPort: 80, mark, tcpState: state });

t.test('debugCtClear deletes the marked entries and provokes only established TCP', async (t) => {
  const table = [
    tcp(40001, 3),
    tcp(40002, 7),
    { family: 4, protocol: 17, src: '10.20.0.5', srcPort: 5353, dst: '198.18.100.53', dstPort: 53, mark: wan, tcpState: 0 },
    tcp(40003, 3, wan + 1),
    { family: 6, protocol: 6, src: '2001:db8:20:0:0:0:0:5', srcPort: 51000, dst: '2001:db8:ff00:0:0:0:0:10', dstPort: 443, mark: wan, tcpState: 3 },
  ] as const satisfies readonly Entry[];
  const r = native.debugCtClear(wan, 0xffffffff, true, records(table));
  const { conntrack, packets, ...report } = r;
  t.same(report, { matched: 4, deleted: 4, tcp: 2, provoked: 2, errors: 0, error: null }, `report: got ${JSON.stringify(report)}`);
  t.same(conntrack, records([table[3]]), 'only the other WAN\'s entry is left, TCP state kept');
  t.equal(packets.length, 2, `packets: got ${packets.length}; want 2`);

  const [v4, v6] = packets as [Buffer, Buffer];
  t.equal(v4.length, 40, `IPv4 provoke length: got ${v4.length}; want 40`);
  t.equal(v4[0], 0x45, 'IPv4, 20-byte header');
  t.equal(v4[9], 6, 'protocol TCP');
  t.same([...v4.subarray(12, 16)], [198, 18, 100, 10], 'from the server');
  t.same([...v4.subarray(16, 20)], [10, 20, 0, 5], 'to the client');
  t.equal(onesSum(v4.subarray(0, 20)), 0, 'IPv4 header checksum');
  t.equal(v4.readUInt16BE(20), 80, 'from the server port');
  t.equal(v4.readUInt16BE(22), 40001, 'to the client port');
  t.equal(v4[33], 0x12, `flags: got 0x${v4[33]!.toString(16)}; want SYN|ACK (0x12)`);
  const pseudo4 = Buffer.concat([v4.subarray(12, 20), Buffer.from([0, 6, 0, 20])]);
  t.equal(onesSum(pseudo4, v4.subarray(20)), 0, 'TCP checksum over the IPv4 pseudo-header');

  t.equal(v6.length, 60, `IPv6 provoke length: got ${v6.length}; want 60`);
  t.equal(v6[0]! >> 4, 6, 'IPv6');
  t.equal(v6.readUInt16BE(4), 20, 'payload length');
  t.equal(v6[6], 6, 'next header TCP');
  t.same(v6.subarray(8, 24), addressBytes('2001:db8:ff00:0:0:0:0:10'), 'from the server');
  t.same(v6.subarray(24, 40), addressBytes('2001:db8:20:0:0:0:0:5'), 'to the client');
  t.equal(v6.readUInt16BE(40), 443, 'from the server port');
  t.equal(v6.readUInt16BE(42), 51000, 'to the client port');
  const pseudo6 = Buffer.concat([v6.subarray(8, 40), Buffer.from([0, 0, 0, 20, 0, 0, 0, 6])]);
  t.equal(onesSum(pseudo6, v6.subarray(40)), 0, 'TCP checksum over the IPv6 pseudo-header');

  const quiet = native.debugCtClear(wan, 0xffffffff, false, records(table));
  t.same([quiet.deleted, quiet.tcp, quiet.provoked, quiet.packets.length], [4, 2, 0, 0], 'without provoke: cleared, nothing sent');
});

t.test('ctClear and debugCtClear refuse bad arguments and change nothing', async (t) => {
  const untyped = native as unknown as Record<string, (...args: unknown[]) => unknown>;
  const table = records([tcp(40001, 3)]);
  const bad = Buffer.from(table);
  bad[38] = 10;
  const cases: Array<{ fn: string; args: unknown[]; want: RegExp }> = [
    { fn: 'ctClear', args: [0, 0xffffffff, true], want: /^native: ctClear: mark & mask: expected a value other than 0/ },
    { fn: 'ctClear', args: [wan, 0xff00, true], want: /^native: ctClear: mark & mask: expected a value other than 0/ },
    { fn: 'ctClear', args: [-1, 0xffffffff, true], want: /^native: ctClear: argument mark: expected an integer 0-4294967295; got -1/ },
    { fn: 'ctClear', args: [wan, 0xffffffff, 1], want: /^native: ctClear: argument provoke: expected a boolean; got number/ },
    { fn: 'debugCtClear', args: [wan, 0xffffffff, true, table.subarray(1)], want: /conntrack: expected a multiple of 80 bytes; got 79/ },
    { fn: 'debugCtClear', args: [wan, 0xffffffff, true, bad], want: /conntrack: record 0: byte 38 \(TCP state\): expected 0-9 for TCP, 0 otherwise; got 10/ },
  ];
  for (const c of cases) {
    const call = `${c.fn}(${c.args.map((a) => (Buffer.isBuffer(a) ? `<${a.length} bytes>` : String(a))).join(', ')})`;
    t.throws(() => untyped[c.fn]!(...c.args), c.want, `${call}: want an error matching ${String(c.want)}`);
  }
});
