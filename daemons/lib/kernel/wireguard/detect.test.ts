import t from 'tap';
import { Rtnl, type RtnlSocket } from '../rtnl/rtnl.js';
import { Agent, TestNetns } from '../testing/index.js';
import { createWireGuardBackend, detectWireGuard, findProgram, kernelProbe } from './detect.js';
import { openWgGenlSocket, type WgGenlSocket } from './kernel.js';

const noGenl: WgGenlSocket = { getDevice: async () => [], setDevice: async () => {}, close: () => {} };

t.test('the injected probe picks the backend', async (t) => {
  const cases: [string, boolean, string][] = [['kernel has WireGuard', true, 'kernel'], ['kernel lacks WireGuard', false, 'userspace']];
  for (const [name, probeResult, want] of cases) {
    t.equal(await detectWireGuard(async () => probeResult), want, `${name}: detect`);
    const b = await createWireGuardBackend({ prefix: 'tn', rtnl: new Rtnl({ socket: {} as RtnlSocket }), probe: async () => probeResult, genl: noGenl });
    t.equal(b.kind, want, `${name}: got a ${b.kind} backend; want ${want}`);
    b.close();
  }
});

t.test('no kernel WireGuard and no wireguard-go is an error naming both', async (t) => {
  await t.rejects(createWireGuardBackend({
    prefix: 'tn', rtnl: new Rtnl({ socket: {} as RtnlSocket }), probe: async () => false, wireguardGo: { command: ['/nonexistent/wireguard-go'] },
  }), { code: 'TERN_E_KERNEL_WG_BACKEND', message: /no WireGuard and \/nonexistent\/wireguard-go is not installed/ });
  t.equal(findProgram('sh', '/nonexistent:/bin:/usr/bin')?.endsWith('/sh'), true);
  t.equal(findProgram('no-such-program-tern', '/bin:/usr/bin'), undefined);
});

/** An rtnetlink socket whose RTM_NEWLINK answers with `newLink`. */
function probeSocket(newLink: () => Promise<unknown[]>, existing?: string) {
  const calls: string[] = [];
  const sock = {
    newLink: async () => { calls.push('newLink'); return newLink(); },
    delLink: async () => { calls.push('delLink'); return []; },
    getLink: async (_d: unknown, a: { ifname?: string }) => {
      calls.push('getLink');
      if (a.ifname === existing || calls.includes('newLink')) {
        const linkinfo = Buffer.from('0e0001007769726567756172640000', 'hex').subarray(0, 14);
        return [{ kind: 'link', data: { index: 9, flags: {} }, attrs: { ifname: a.ifname, linkinfo } }];
      }
      throw new Error('Request rejected: ENODEV');
    },
    close: () => {},
  } as unknown as RtnlSocket;
  return { rtnl: new Rtnl({ socket: sock }), calls };
}

t.test('kernelProbe: create and delete a wireguard link; EOPNOTSUPP means no', async (t) => {
  const yes = probeSocket(async () => []);
  t.equal(await kernelProbe(yes.rtnl, 'tnprobe')(), true);
  t.same(yes.calls, ['newLink', 'getLink', 'delLink'], `got ${yes.calls}; want the probe link removed again`);

  const no = probeSocket(async () => { throw new Error('Request rejected: ENOTSUP'); });
  t.equal(await kernelProbe(no.rtnl, 'tnprobe')(), false);
  t.notOk(no.calls.includes('delLink'), 'nothing to delete when nothing was created');

  const leftover = probeSocket(async () => { throw new Error('Request rejected: EEXIST'); }, 'tnprobe');
  t.equal(await kernelProbe(leftover.rtnl, 'tnprobe')(), true, 'a leftover wireguard probe link proves support');
  t.ok(leftover.calls.includes('delLink'), 'and is removed');

  const perm = probeSocket(async () => { throw new Error('Request rejected: EPERM'); });
  await t.rejects(kernelProbe(perm.rtnl, 'tnprobe')(), { code: 'TERN_E_KERNEL_WG_BACKEND', message: /EPERM/ });
});

t.test('real detection in a namespace agrees with ip(8) (userspace on this sandbox kernel)', async (t) => {
  const ns = await TestNetns.create('detect');
  const agent = Agent.start(ns.name);
  t.teardown(async () => {
    await agent.stop();
    await ns.destroy();
  });
  const got = await agent.call<string>('agent', 'detect');
  const oracle = await ns.exec(['ip', 'link', 'add', 'tnoracle', 'type', 'wireguard']);
  const want = oracle.code === 0 ? 'kernel' : 'userspace';
  t.equal(got, want, `detect: got ${got}; want ${want} (ip link add type wireguard: ${oracle.stderr.trim() || 'ok'})`);
  if (oracle.code !== 0) {
    t.match(oracle.stderr, /Unknown device type|not supported/i, 'the kernel itself refuses wireguard links');
    await t.rejects(openWgGenlSocket(), { code: 'TERN_E_KERNEL_WG_BACKEND', message: /no wireguard family/ }, 'and has no wireguard genetlink family');
  } else {
    const s = await openWgGenlSocket();
    s.close();
  }
  const links = await ns.ipJson<{ ifname: string }[]>(['link', 'show']);
  t.same(links.map((l) => l.ifname).filter((n) => n !== 'tnoracle'), ['lo'], 'the probe leaves no link behind');
});
