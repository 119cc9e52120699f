// Handles (sockets, socket sets, queues) that JS holds as tagged externals:
// a closed handle is a TERN_E_NATIVE_IO error naming the function, a handle
// of another kind or a plain value a TERN_E_NATIVE_ARG error naming the
// argument and the kind expected, and closing twice does nothing. This is
// what keeps a daemon's use-after-close a clear error and never a read of
// the wrong Rust type.
import t from 'tap';
import { loadNative } from './index.js';

const native = loadNative();
// Untyped on purpose: the calls below are what index.d.ts forbids.
const loose = native as unknown as Record<string, (...args: unknown[]) => unknown>;

function thrown(f: () => unknown): { code?: unknown; message: string } | null {
  try {
    f();
    return null;
  } catch (err) {
    return err as { code?: unknown; message: string };
  }
}

t.test('a closed handle: the function names itself and says closed; closing again is fine', async (t) => {
  const set = native.udpSetCreate();
  native.udpSetClose(set);
  t.match(thrown(() => native.udpOpen(set, '127.0.0.1', 0, false)), { code: 'TERN_E_NATIVE_IO', message: 'native: udpOpen: the set is closed' });
  t.match(thrown(() => native.udpStats(set)), { code: 'TERN_E_NATIVE_IO', message: 'native: udpStats: the set is closed' });
  t.equal(thrown(() => native.udpSetClose(set)), null, 'udpSetClose twice');

  const icmp = native.icmpOpen('127.0.0.1', 0, '', 16, 0);
  native.icmpClose(icmp);
  t.match(thrown(() => native.icmpSend(icmp, '127.0.0.1', 1)), { code: 'TERN_E_NATIVE_IO', message: 'native: icmpSend: the socket is closed' });
  t.equal(thrown(() => native.icmpClose(icmp)), null, 'icmpClose twice');
});

t.test('a handle of another kind or a plain value: argument error naming the kind expected', { skip: process.getuid?.() !== 0 && 'needs root for a packet socket' }, async (t) => {
  const set = native.udpSetCreate();
  const ether = native.etherOpen('lo');
  t.teardown(() => { native.udpSetClose(set); native.etherClose(ether); });
  const cases: Array<{ fn: string; args: unknown[]; want: RegExp }> = [
    { fn: 'etherSend', args: [set, Buffer.alloc(60)], want: /^native: etherSend: argument socket: expected a packet socket from etherOpen/ },
    { fn: 'udpStats', args: [ether], want: /^native: udpStats: argument set: expected .*udpSetCreate/ },
    { fn: 'icmpStats', args: [set], want: /^native: icmpStats: argument socket: expected .*icmpOpen/ },
    { fn: 'vrrpStats', args: [ether], want: /^native: vrrpStats: argument socket: expected a VRRP socket from vrrpOpen/ },
    { fn: 'nfqClose', args: [{}], want: /^native: nfqClose: argument queue: expected .*nfqOpen/ },
    { fn: 'etherClose', args: [undefined], want: /^native: etherClose: argument socket: expected a packet socket from etherOpen/ },
  ];
  for (const c of cases) {
    const e = thrown(() => loose[c.fn]!(...c.args));
    t.equal(e?.code, 'TERN_E_NATIVE_ARG', `${c.fn}: code ${String(e?.code)}`);
    t.match(e?.message, c.want, `${c.fn}: ${e?.message}`);
  }
  // The wrong-kind call left both handles working.
  t.equal(thrown(() => native.etherSend(ether, Buffer.alloc(60))), null, 'the packet socket still sends');
  t.match(native.udpStats(set), { sockets: 0 }, 'the set still answers');
});
