// Integration: capability detection and the shaper against the real kernel
// of a throwaway namespace. This kernel has HTB but neither cake nor
// fq_codel, which also makes a stale capability a real kernel error.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { NetnsAgent, TestNetns } from '../lib/kernel/testing/index.js';
import type { Capabilities } from './capabilities.js';
import type { ApplyReport } from './shaper.js';

const fixture = fileURLToPath(new URL('./netns.fixture.js', import.meta.url));
const htbFifo = { mode: 'htb', leaf: 'bfifo', ingress: true };

/** "Sent N bytes" of `tc -s` output for the line naming what. */
function sent(text: string, what: RegExp): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => what.test(l));
  const m = i >= 0 ? /Sent (\d+) bytes/.exec(lines[i + 1] ?? '') : null;
  return m ? Number(m[1]) : -1;
}

t.test('qosd on a real kernel: detection, shaping, restart adoption, a kernel error, removal', async (t) => {
  const ns = await TestNetns.create('qosd');
  const peer = await TestNetns.create('qosdpeer');
  let agent = NetnsAgent.start(ns.name, fixture);
  t.teardown(async () => {
    await agent.stop();
    await ns.destroy();
    await peer.destroy();
  });
  const qos = <T>(method: string, ...args: unknown[]): Promise<T> => agent.call<T>('qos', method, ...args);
  await ns.sh(['ip', 'link', 'add', 'name', 'wan0', 'type', 'veth', 'peer', 'name', 'isp0', 'netns', peer.name]);
  await ns.sh(['ip', 'addr', 'add', '198.51.100.10/24', 'dev', 'wan0']);
  await ns.sh(['ip', 'link', 'set', 'wan0', 'up']);
  await peer.sh(['ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'isp0']);
  await peer.sh(['ip', 'link', 'set', 'isp0', 'up']);

  await t.test('detection by trying: HTB, FIFOs, IFB, ingress and mirred; no cake, no fq_codel', async (t) => {
    const caps = await qos<Capabilities>('detect');
    t.same(caps, { ifb: true, htb: true, cake: false, fq_codel: false, bfifo: true, tbf: true, ingress: true, mirred: true });
    const links = await ns.sh(['ip', '-o', 'link', 'show']);
    t.notMatch(links, /tqp-/, 'the scratch IFB is gone');
  });

  await t.test('shaping: HTB on wan0 and on its IFB, EF classified into realtime', async (t) => {
    const r = await qos<ApplyReport>('apply', {}, htbFifo);
    t.ok(r.created.includes('link tqi-isp (ifb)') && r.created.includes('wan0: qdisc 7471: htb'), `got ${JSON.stringify(r.created.slice(0, 5))}...`);
    await ns.exec(['fping', '-c', '20', '-p', '5', '-t', '500', '-q', '-O', '184', '198.51.100.1']);
    const cls = await ns.sh(['tc', '-s', 'class', 'show', 'dev', 'wan0']);
    t.ok(sent(cls, /class htb 7471:11 /) >= 20 * 84, `wan0 7471:11 (realtime): got ${sent(cls, /class htb 7471:11 /)} bytes; want 20 EF echo requests`);
    const ifb = await ns.sh(['tc', '-s', 'class', 'show', 'dev', 'tqi-isp']);
    t.ok(sent(ifb, /class htb 7471:11 /) >= 20 * 84, `tqi-isp 7471:11: got ${sent(ifb, /class htb 7471:11 /)} bytes; want the 20 EF replies (Linux echoes the TOS)`);
  });

  await t.test('a restarted qosd (new process) adopts everything: no change, counters keep counting', async (t) => {
    const before = sent(await ns.sh(['tc', '-s', 'qdisc', 'show', 'dev', 'wan0']), /^qdisc htb 7471: /);
    await agent.stop();
    agent = NetnsAgent.start(ns.name, fixture);
    const r = await qos<ApplyReport>('apply', {}, htbFifo);
    t.same(r, { created: [], changed: [], deleted: [] }, 'nothing created, changed or deleted');
    await ns.exec(['fping', '-c', '5', '-p', '5', '-t', '500', '-q', '198.51.100.1']);
    const after = sent(await ns.sh(['tc', '-s', 'qdisc', 'show', 'dev', 'wan0']), /^qdisc htb 7471: /);
    t.ok(after > before && before > 0, `root counter: got ${before} then ${after} bytes; want it to keep growing`);
  });

  await t.test('a kernel error (fq_codel the kernel lacks) keeps the previous shaping and names the WAN', async (t) => {
    const before = sent(await ns.sh(['tc', '-s', 'qdisc', 'show', 'dev', 'wan0']), /^qdisc htb 7471: /);
    await t.rejects(qos('apply', { qos: { enabled: true, wans: [{ wan: 'isp', upMbps: 10 }] } }, { mode: 'htb', leaf: 'fq_codel', ingress: true }), {
      code: 'TERN_E_QOS_KERNEL',
      message: /^qosd: apply: WAN isp \(wan0\): kernel: qdisc replace dev tqi-isp parent 7471:11 handle 11: fq_codel: ENOENT: .*; the previous shaping stays in place$/,
      details: { wan: 'isp', errno: 'ENOENT' },
    });
    const q = await ns.sh(['tc', 'qdisc', 'show', 'dev', 'wan0']);
    t.match(q, /qdisc bfifo 11: parent 7471:11 limit 25000b/, 'FIFO leaves as before');
    const c = await ns.sh(['tc', 'class', 'show', 'dev', 'wan0']);
    t.match(c, /class htb 7471:1 root rate 20Mbit/, 'the rate as before');
    const ifbq = await ns.sh(['tc', 'qdisc', 'show', 'dev', 'tqi-isp']);
    t.equal((ifbq.match(/qdisc bfifo/g) ?? []).length, 4, `the IFB has its four FIFOs back: ${ifbq}`);
    await ns.exec(['fping', '-c', '5', '-p', '5', '-t', '500', '-q', '198.51.100.1']);
    const after = sent(await ns.sh(['tc', '-s', 'qdisc', 'show', 'dev', 'wan0']), /^qdisc htb 7471: /);
    t.ok(after > before, `root counter: got ${before} then ${after}; want it never reset`);
  });

  await t.test('removal leaves the WAN as it was before qosd', async (t) => {
    await qos('remove');
    t.match(await ns.sh(['tc', 'qdisc', 'show', 'dev', 'wan0']), /^qdisc noqueue 0: root/);
    t.notMatch(await ns.sh(['tc', 'qdisc', 'show', 'dev', 'wan0']), /ingress/);
    t.notMatch(await ns.sh(['ip', '-o', 'link', 'show']), /tqi-/);
  });
});
