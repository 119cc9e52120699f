// Integration: the userspace backend with real wireguard-go processes in two
// namespaces joined by a veth pair, driven through agents running inside the
// namespaces, as tern-tunneld would run.
import t from 'tap';
import fs from 'node:fs';
import { Agent, TestNetns, killTrackedWireguardGo, sh, trackWireguardGo, uniqueTag, wireguardGoPids } from '../testing/index.js';
import type { UapiRecord } from '../testing/index.js';
import { generatePrivateKey, publicKeyOf } from './keys.js';
import type { ConfigureResult, DesiredDevice, DeviceState } from './types.js';

/**
 * True when ns reaches addr within `rounds` rounds of 3 echo requests
 * (counted, not timed). The default leaves room for one WireGuard handshake
 * retry (REKEY_TIMEOUT, 5 s): a first initiation sent while the other side
 * was still down is lost and only retried then.
 */
async function reaches(ns: TestNetns, addr: string, rounds = 20): Promise<boolean> {
  for (let round = 0; round < rounds; round++) {
    const r = await ns.exec(['fping', '-c', '3', '-p', '100', '-t', '500', '-q', addr]);
    const m = /xmt\/rcv\/%loss = (\d+)\/(\d+)/.exec(r.stderr);
    if (m && Number(m[2]) > 0) return true;
  }
  return false;
}

/** Fields 4 (ppid) and 6 (session) of /proc/<pid>/stat. */
function parentAndSession(pid: number): [number, number] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(f[1]), Number(f[3])];
}

const withoutCounters = (d: DeviceState): unknown => ({ ...d, peers: d.peers.map(({ rxBytes: _r, txBytes: _t, lastHandshakeMs: _h, ...p }) => p) });

t.test('wireguard-go between two namespaces', async (t) => {
  const tag = uniqueTag(2);
  const prefix = `tn${tag}`;
  const wa = `${prefix}a`;
  const wb = `${prefix}b`;
  trackWireguardGo(wa, wb);
  const A = await TestNetns.create('wga');
  const B = await TestNetns.create('wgb');
  const agents: Agent[] = [];
  const start = (ns: TestNetns): Agent => {
    const a = Agent.start(ns.name, { TERN_TEST_WG_PREFIX: prefix });
    agents.push(a);
    return a;
  };
  t.teardown(async () => {
    // wireguard-go first: a namespace stays alive while a process holds it.
    killTrackedWireguardGo();
    for (const a of agents) await a.kill();
    await A.destroy();
    await B.destroy();
  });
  await sh(['ip', 'link', 'add', `tv${tag}a`, 'netns', A.name, 'type', 'veth', 'peer', 'name', `tv${tag}b`, 'netns', B.name]);
  await A.sh(['ip', 'addr', 'add', '192.168.77.1/24', 'dev', `tv${tag}a`]);
  await A.sh(['ip', 'link', 'set', `tv${tag}a`, 'up']);
  await B.sh(['ip', 'addr', 'add', '192.168.77.2/24', 'dev', `tv${tag}b`]);
  await B.sh(['ip', 'link', 'set', `tv${tag}b`, 'up']);

  let a = start(A);
  const b = start(B);
  const keyA = generatePrivateKey();
  const keyB = generatePrivateKey();
  const keyC = publicKeyOf(generatePrivateKey());
  const desiredA: DesiredDevice = {
    privateKey: keyA, listenPort: 51820,
    peers: [{ publicKey: publicKeyOf(keyB), endpoint: '192.168.77.2:51820', allowedIps: ['10.99.0.2/32'], persistentKeepalive: 25 }],
  };
  const desiredB: DesiredDevice = {
    privateKey: keyB, listenPort: 51820,
    peers: [{ publicKey: publicKeyOf(keyA), endpoint: '192.168.77.1:51820', allowedIps: ['10.99.0.1/32'] }],
  };

  await t.test('create', async (t) => {
    await a.call('wg', 'create', wa);
    await b.call('wg', 'create', wb);
    t.equal(await a.call('wg', 'exists', wa), true);
    t.equal(await a.call('wg', 'exists', wb), false, "B's interface is not in A's namespace");
    t.same(await a.call('wg', 'list'), [wa]);
    await t.rejects(a.call('wg', 'create', wa), { code: 'TERN_E_KERNEL_WG_BACKEND', message: /already exists in this namespace/ });
    await t.rejects(b.call('wg', 'create', wa), { code: 'TERN_E_KERNEL_WG_BACKEND', message: /in use by wireguard-go in another namespace/ });
    await t.rejects(b.call('wg', 'configure', wa, desiredB), { code: 'TERN_E_KERNEL_WG_BACKEND', message: /no wireguard-go interface of that name in this namespace/ },
      "B cannot reach A's device through the shared socket directory");
    const pids = wireguardGoPids([wa]);
    t.equal(pids.length, 1, `wireguard-go for ${wa}: got ${pids.length} processes; want 1`);
    const [ppid, sid] = parentAndSession(pids[0]!);
    t.not(ppid, a.pid, 'wireguard-go is not a child of the process that created it');
    t.not(sid, parentAndSession(a.pid)[1], "wireguard-go is not in the creator's session");
  });

  await t.test('configure, address, ping across the tunnel', async (t) => {
    const ra = await a.call<ConfigureResult>('wg', 'configure', wa, desiredA);
    t.same(ra.device, ['privateKey', 'listenPort']);
    t.same(ra.added, [publicKeyOf(keyB)]);
    await b.call('wg', 'configure', wb, desiredB);
    await a.call('rtnl', 'addAddress', wa, '10.99.0.1/24');
    await a.call('rtnl', 'setLinkUp', wa, true);
    await b.call('rtnl', 'addAddress', wb, '10.99.0.2/24');
    await b.call('rtnl', 'setLinkUp', wb, true);
    t.ok(await reaches(A, '10.99.0.2'), 'A reaches B through the tunnel');
    const state = await a.call<DeviceState>('wg', 'get', wa);
    t.equal(state.publicKey, publicKeyOf(keyA));
    t.equal(state.peers[0]?.endpoint, '192.168.77.2:51820');
    t.ok((state.peers[0]?.lastHandshakeMs ?? 0) > 0, 'a handshake happened');
    t.notMatch(JSON.stringify(state), keyA, 'get() does not return the private key');
  });

  await t.test('configure with the same desired state changes nothing', async (t) => {
    await a.call('agent', 'uapiLog');
    const before = await a.call<DeviceState>('wg', 'get', wa);
    const r = await a.call<ConfigureResult>('wg', 'configure', wa, desiredA);
    const after = await a.call<DeviceState>('wg', 'get', wa);
    t.same(r, { device: [], added: [], updated: [], removed: [], requests: 0 });
    const sets = (await a.call<UapiRecord[]>('agent', 'uapiLog')).filter((x) => x.verb === 'set=1');
    t.equal(sets.length, 0, `UAPI set requests: got ${sets.length}; want 0`);
    t.same(withoutCounters(after), withoutCounters(before));
  });

  await t.test("changing one peer's allowed IPs touches only that peer", async (t) => {
    const withC: DesiredDevice = { ...desiredA, peers: [...desiredA.peers, { publicKey: keyC, allowedIps: ['10.50.0.0/24'] }] };
    const added = await a.call<ConfigureResult>('wg', 'configure', wa, withC);
    t.same(added, { device: [], added: [keyC], updated: [], removed: [], requests: 1 });
    await a.call('agent', 'uapiLog');
    const peerBBefore = (await a.call<DeviceState>('wg', 'get', wa)).peers.find((p) => p.publicKey === publicKeyOf(keyB));
    const moved: DesiredDevice = { ...withC, peers: [withC.peers[0]!, { publicKey: keyC, allowedIps: ['10.50.0.0/24', '10.51.0.0/24'] }] };
    const r = await a.call<ConfigureResult>('wg', 'configure', wa, moved);
    t.same(r, { device: [], added: [], updated: [keyC], removed: [], requests: 1 });
    const sets = (await a.call<UapiRecord[]>('agent', 'uapiLog')).filter((x) => x.verb === 'set=1');
    t.same(sets.map((s) => s.peers), [[keyC]], `UAPI set requests named peers ${JSON.stringify(sets.map((s) => s.peers))}; want only C`);
    const state = await a.call<DeviceState>('wg', 'get', wa);
    t.same(state.peers.find((p) => p.publicKey === keyC)?.allowedIps, ['10.50.0.0/24', '10.51.0.0/24']);
    const peerBAfter = state.peers.find((p) => p.publicKey === publicKeyOf(keyB));
    t.same([peerBAfter?.endpoint, peerBAfter?.allowedIps], [peerBBefore?.endpoint, peerBBefore?.allowedIps], 'peer B untouched');
    const removed = await a.call<ConfigureResult>('wg', 'configure', wa, desiredA);
    t.same(removed.removed, [keyC]);
    t.ok(await reaches(A, '10.99.0.2'), 'the tunnel still works');
  });

  await t.test('the tunnel survives the death of the process that made it', async (t) => {
    const pids = wireguardGoPids([wa]);
    await a.kill();
    t.same(wireguardGoPids([wa]), pids, 'the same wireguard-go process still runs');
    t.ok(await reaches(A, '10.99.0.2'), 'A still reaches B with its daemon gone');
    a = start(A);
    t.equal(await a.call('wg', 'exists', wa), true, 'a restarted daemon finds the interface');
    t.same(await a.call('wg', 'list'), [wa]);
    const r = await a.call<ConfigureResult>('wg', 'configure', wa, desiredA);
    t.equal(r.requests, 0, `reconcile after restart: got ${r.requests} requests; want 0`);
  });

  await t.test('destroy removes the interface and its process', async (t) => {
    await a.call('wg', 'destroy', wa);
    t.same(wireguardGoPids([wa]), [], 'no wireguard-go left for A');
    t.equal(await a.call('rtnl', 'link', wa), null, 'no link left');
    t.notOk(fs.existsSync(`/var/run/wireguard/${wa}.sock`), 'no UAPI socket left');
    t.same(await a.call('wg', 'list'), []);
    await t.resolves(a.call('wg', 'destroy', wa), 'destroying a missing interface is not an error');
    await b.call('wg', 'destroy', wb);
    t.same(wireguardGoPids([wa, wb]), []);
    t.notOk(await reaches(A, '10.99.0.2', 1), 'the tunnel is gone');
  });
});
