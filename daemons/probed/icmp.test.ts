// The native ICMP transport over loopback: a WAN probe socket marked with a
// DSCP still gets its replies, and a DSCP out of range is refused saying
// which setting failed. (The marking on the wire is checked byte by byte in
// native/src/icmp.rs and end to end by test/qosd.test.ts.)
import t from 'tap';
import { nativeIcmp } from './icmp.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('an EF-marked socket sends and gets its replies', async (t) => {
  const open = nativeIcmp();
  for (const dscp of [0, 46]) {
    const s = open({ source: '127.0.0.1', mark: 0, device: '', dscp });
    t.teardown(() => s.close());
    const sent = s.send('127.0.0.1', 3);
    let replies: ReturnType<typeof s.receive> = [];
    for (let i = 0; i < 200 && !replies.length; i++) {
      await sleep(5);
      replies = s.receive(8);
    }
    t.equal(replies.length, 1, `dscp ${dscp}: got ${replies.length} replies; want 1`);
    t.match(replies[0], { from: '127.0.0.1', seq: 3, sentMs: sent }, `dscp ${dscp}: the reply to seq 3`);
  }
});

t.test('a DSCP out of range is refused', async (t) => {
  const open = nativeIcmp();
  for (const dscp of [64, -1, 1.5]) {
    t.throws(() => open({ source: '127.0.0.1', mark: 0, device: '', dscp }), { code: 'TERN_E_PROBE_SOCKET', message: /dscp/ }, `dscp ${dscp}: got no error; want TERN_E_PROBE_SOCKET naming dscp`);
  }
});
