// Integration: ctClear on a real kernel. A client namespace downloads from a
// server namespace through a router namespace that NATs (masquerade) and
// marks new flows from the LAN, and rejects new TCP without SYN with a reset
// (the rule tern-edged's firewall has). These rules are the test's own
// stand-ins, loaded here: this tests the native function, not the product's
// NAT. After ctClear of the flows' mark with provoke, the client's socket
// fails with ECONNRESET after a bounded number of packets through the
// router's reject rule; without provoke the client keeps waiting while the
// server's side of the connection is already gone. A bare ACK as provoke fails
// here: conntrack takes it up as a new connection, the client's answer leaves
// un-NATed as that connection's reply, and the server has no route to a LAN
// address.
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { NetnsAgent, TestNetns } from '../kernel/testing/index.js';

const fixture = fileURLToPath(new URL('./ctclear-netns.fixture.js', import.meta.url));
const mark = 0x1f0000;

interface EndState { connected: boolean; bytes: number; error: string | null; closed: boolean }
interface ClearReport { matched: number; deleted: number; tcp: number; provoked: number; errors: number; error: string | null }

/** Polls fn until it answers something other than undefined/false, at most `tries` times, 50 ms apart. */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`ctclear-netns: gave up waiting for ${what}`);
}

const ruleset = `
table inet natfast_test {
  chain forward_rules {
    type filter hook forward priority filter; policy accept;
    ct state new tcp flags & syn == 0 counter reject with tcp reset comment "stray"
    ct state new iifname "rlan" ct mark set ${mark}
  }
  chain nat_rules {
    type nat hook postrouting priority srcnat;
    oifname "rwan" masquerade
  }
}
`;

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

t.test('ctClear clears NATed flows; with provoke the client is reset at once', { skip }, async (t) => {
  const client = await TestNetns.create('ctcc');
  const router = await TestNetns.create('ctcr');
  const server = await TestNetns.create('ctcs');
  const agents: NetnsAgent[] = [];
  t.teardown(async () => {
    for (const a of agents) await a.stop();
    await client.destroy();
    await router.destroy();
    await server.destroy();
  });
  const start = (ns: TestNetns): NetnsAgent => {
    const a = NetnsAgent.start(ns.name, fixture);
    agents.push(a);
    return a;
  };

  await client.sh(['ip', 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'rlan', 'netns', router.name]);
  await server.sh(['ip', 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 'rwan', 'netns', router.name]);
  for (const [ns, dev, v4, v6] of [
    [client, 'c0', '10.77.1.2/24', 'fd77:1::2/64'],
    [router, 'rlan', '10.77.1.1/24', 'fd77:1::1/64'],
    [router, 'rwan', '10.77.2.1/24', 'fd77:2::1/64'],
    [server, 's0', '10.77.2.2/24', 'fd77:2::2/64'],
  ] as const) {
    await ns.sh(['ip', 'addr', 'add', v4, 'dev', dev]);
    await ns.sh(['ip', '-6', 'addr', 'add', v6, 'dev', dev, 'nodad']);
    await ns.sh(['ip', 'link', 'set', dev, 'up']);
  }
  await client.sh(['ip', 'route', 'add', 'default', 'via', '10.77.1.1']);
  await client.sh(['ip', '-6', 'route', 'add', 'default', 'via', 'fd77:1::1']);
  // The server has no route to the LAN, as on the internet: only what the
  // router NATs to its WAN address comes back.
  await router.sh(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  await router.sh(['sh', '-c', `printf '%s' '${ruleset}' | nft -f -`]);
  const ct = start(router);

  /** Packets the router rejected as new TCP without SYN. */
  const rejected = async (): Promise<number> => {
    const text = await router.sh(['nft', 'list', 'chain', 'inet', 'natfast_test', 'forward_rules']);
    const m = /counter packets (\d+) bytes \d+ reject/.exec(text);
    if (!m) throw new Error(`ctclear-netns: no reject counter in ${text}`);
    return Number(m[1]);
  };

  /** A download from the server to the client, flowing, and its conntrack entry marked. */
  const download = async (serverAddress: string, port: number): Promise<{ down: NetnsAgent; up: NetnsAgent }> => {
    const up = start(server);
    const down = start(client);
    await up.call('tcp', 'listen', serverAddress, port);
    await down.call('tcp', 'connect', serverAddress, port);
    await until('the download to flow', async () => (await down.call<EndState>('tcp', 'state')).bytes > 64 * 1024);
    await until('its conntrack entry, marked', async () => (await ct.call<number>('ct', 'count', mark, 0xffffffff)) >= 1);
    return { down, up };
  };

  for (const [family, serverAddress, port] of [[4, '10.77.2.2', 8004], [6, 'fd77:2::2', 8006]] as const) {
    await t.test(`IPv${family}, provoke: the client's connection is reset at once`, async (t) => {
      const { down } = await download(serverAddress, port);
      const before = await rejected();
      const r = await ct.call<ClearReport>('ct', 'clear', mark, 0xffffffff, true);
      t.match(r, { deleted: 1, tcp: 1, provoked: 1, errors: 0, error: null }, `report: got ${JSON.stringify(r)}`);
      const end = await until('the client socket to fail', async () => {
        const s = await down.call<EndState>('tcp', 'state');
        return s.error !== null || s.closed ? s : undefined;
      });
      t.equal(end.error, 'ECONNRESET', `client error: got ${end.error}; want ECONNRESET`);
      const stray = (await rejected()) - before;
      t.ok(stray >= 1 && stray <= 2, `new TCP without SYN rejected by the router: got ${stray}; want 1 (the client's challenge ACK), at most 2`);
      t.equal(await ct.call<number>('ct', 'count', mark, 0xffffffff), 0, 'no marked entry left');
    });

    await t.test(`IPv${family}, no provoke: the flow is cleared but the client keeps waiting`, async (t) => {
      const { down, up } = await download(serverAddress, port + 100);
      const before = await rejected();
      const r = await ct.call<ClearReport>('ct', 'clear', mark, 0xffffffff, false);
      t.match(r, { deleted: 1, tcp: 1, provoked: 0, errors: 0, error: null }, `report: got ${JSON.stringify(r)}`);
      // The server's next segment meets no NAT entry: the router resets the
      // server's side. Once that happened nothing more reaches the client.
      const far = await until('the server side to be reset', async () => {
        const s = await up.call<EndState>('tcp', 'state');
        return s.error !== null || s.closed ? s : undefined;
      });
      t.equal(far.error, 'ECONNRESET', `server error: got ${far.error}; want ECONNRESET`);
      const near = await down.call<EndState>('tcp', 'state');
      t.same({ error: near.error, closed: near.closed }, { error: null, closed: false }, `client: got ${JSON.stringify(near)}; want still open, waiting`);
      t.equal((await rejected()) - before, 0, 'the client sent nothing the router rejected');
    });
  }
});

t.test('the NFQUEUE worker reads the domain hint from a queued packet\'s mark', { skip }, async (t) => {
  const ns = await TestNetns.create('hint');
  const agent = NetnsAgent.start(ns.name, fixture);
  t.teardown(async () => {
    await agent.stop();
    await ns.destroy();
  });
  await ns.sh(['ip', 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
  await ns.sh(['ip', 'addr', 'add', '10.99.0.1/24', 'dev', 'd0']);
  await ns.sh(['ip', 'link', 'set', 'd0', 'up']);
  await ns.sh(['ip', 'link', 'set', 'd1', 'up']);
  // Stand-in for steerd's restore chain: packets to .21 carry hint 3, to .22
  // hint 9 (no class has it). iptables: this kernel has no nft `queue`.
  for (const rule of [
    ['-d', '10.99.0.21', '-j', 'MARK', '--set-mark', '0x3000'],
    ['-d', '10.99.0.22', '-j', 'MARK', '--set-mark', '0x9000'],
    ['-d', '10.99.0.0/24', '-p', 'udp', '--dport', '5000', '-j', 'NFQUEUE', '--queue-num', '10299', '--queue-bypass'],
  ]) {
    await ns.sh(['iptables', '-t', 'mangle', '-A', 'OUTPUT', ...rule]);
  }
  const steering = { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 };
  const policy = {
    classes: [{ name: 'saas', domainHint: 3, match: {}, ...steering }],
    default: steering,
    flows: { max: 64, idleTimeoutMs: 60_000 },
  };
  const paths = [{ id: 0x1f0000, wan: 'isp-a', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 10, jitterMs: 1, mos: 4.4 }];
  await agent.call('fastpath', 'open', 10299, policy, paths, ['10.99.0.0/24']);
  type Stats = { queue: { packets: number }; selector: { classes: Array<{ name: string; newFlows: number }> } };
  for (const last of [21, 22, 23]) {
    await ns.sh(['bash', '-c', `echo x > /dev/udp/10.99.0.${last}/5000`]);
  }
  const st = await until('three packets through the queue', async () => {
    const s = await agent.call<Stats>('fastpath', 'stats');
    return s.queue.packets >= 3 ? s : undefined;
  });
  const flows = Object.fromEntries(st.selector.classes.map((c) => [c.name, c.newFlows]));
  t.same(flows, { saas: 1, default: 2 }, `new flows by class: got ${JSON.stringify(flows)}; want saas 1 (hint 3), default 2 (hint 9, none)`);
});
