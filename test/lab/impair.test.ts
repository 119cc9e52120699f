// Integration test of impairments (root): each one measured in-band across
// the lab (fping, iperf3, nft counters, relay counters), and clear() puts
// the link back exactly as it was.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { isTernError } from '../../daemons/lib/errors.js';
import { silentLogger } from '../../daemons/lib/log/index.js';
import { LinkImpairment, relayBinary, relayBuildCommand, type ImpairHost } from './impair.js';
import { Lab } from './lab.js';
import { iperf, pingOne } from './measure.js';
import { isAlive } from './proc.js';
import { defaultTopology } from './topology.js';

const office2Wan = '198.18.2.2';
const cli = path.resolve(path.dirname(new URL(import.meta.url).pathname), 'cli.js');

t.test('bad requests are TERN_E_LAB_IMPAIR, checked before anything runs', async (t) => {
  // A host whose namespaces do not exist: validation must fail first.
  const host: ImpairHost = {
    topology: defaultTopology(), prefix: 'tlnone00', runDir: os.tmpdir(), logger: silentLogger(),
    ns: (n) => `tlnone00-${n}`, ownerPid: () => process.pid,
  };
  const cases: Array<[string, () => unknown]> = [
    ['unknown end', () => new LinkImpairment(host, 'office9:wan0')],
    ['malformed end', () => new LinkImpairment(host, 'office1')],
    ['host-to-appliance link', () => new LinkImpairment(host, 'homehost:eth0')],
    ['loss above 100', () => new LinkImpairment(host, 'office1:wan0').loss(101)],
    ['negative loss', () => new LinkImpairment(host, 'office1:wan0').loss(-1)],
    ['NaN loss', () => new LinkImpairment(host, 'office1:wan0').loss(Number.NaN)],
    ['negative delay', () => new LinkImpairment(host, 'office1:wan0').delay(-5)],
    ['negative jitter', () => new LinkImpairment(host, 'office1:wan0').delay(5, -1)],
    ['infinite delay', () => new LinkImpairment(host, 'office1:wan0').delay(Number.POSITIVE_INFINITY)],
    ['zero rate', () => new LinkImpairment(host, 'office1:wan0').rate(0)],
    ['tiny burst', () => new LinkImpairment(host, 'office1:wan0').rate(10, { burst: 100 })],
    ['bad direction', () => new LinkImpairment(host, 'office1:wan0').loss(5, { direction: 'sideways' as 'in' })],
    ['delay on a switch link', () => new LinkImpairment(host, 'office1:lan0').delay(10)],
  ];
  for (const [name, fn] of cases) {
    let err: unknown;
    try {
      await fn();
    } catch (e) {
      err = e;
    }
    t.ok(isTernError(err, 'TERN_E_LAB_IMPAIR'), `${name}: got ${String(err)}; want TERN_E_LAB_IMPAIR`);
  }
});

t.test('impairments measured across the lab', async (t) => {
  if (!fs.existsSync(relayBinary())) t.fail(`the delay relay ${relayBinary()} is missing; build it with ${relayBuildCommand}`);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-lab-impair-'));
  const lab = await Lab.up(defaultTopology(), { runDir });
  t.teardown(async () => {
    await lab.down();
    fs.rmSync(runDir, { recursive: true, force: true });
  });
  const wan = lab.impair('office1:wan0');
  t.equal(wan.pointId, 'ispa:office1', 'an appliance WAN is impaired at the ISP end');
  const pristine = await wan.snapshot();

  await t.test('10 % loss reads 10 ± 3 % over 1000 probes and matches the rule counter', async (t) => {
    await wan.loss(10);
    const r = await pingOne(lab, 'office1', office2Wan, { count: 1000, periodMs: 10, timeoutMs: 5000 });
    t.ok(Math.abs(r.lossPct - 10) <= 3, `got ${r.lossPct} % loss; want 10 ± 3 %`);
    const counter = (await wan.stats()).loss.out?.packets ?? -1;
    const lost = r.sent - r.received;
    // The counter also sees the odd IPv6 neighbour/router packet office1 sends.
    t.ok(counter >= lost && counter <= lost + 5, `got rule counter ${counter}; want the ${lost} probes fping lost (+5 at most)`);
    await wan.clear();
    const after = await pingOne(lab, 'office1', office2Wan, { count: 100 });
    t.equal(after.lossPct, 0, `got ${after.lossPct} % loss after clear; want 0`);
  });

  await t.test('delay adds its RTT, per direction, accurately', async (t) => {
    const base = await pingOne(lab, 'office1', office2Wan, { count: 200 });
    t.equal(base.lossPct, 0, 'the unimpaired path loses nothing');
    const table: Array<[string, 'in' | 'out' | 'both', number]> = [
      ['out', 'out', 40],
      ['in', 'in', 40],
      ['both', 'both', 80],
    ];
    for (const [name, direction, want] of table) {
      await wan.delay(40, 0, { direction });
      const d = await pingOne(lab, 'office1', office2Wan, { count: 200 });
      const extra = d.median - base.median;
      t.ok(Math.abs(extra - want) <= 3, `delay 40 ${name}: got +${extra.toFixed(2)} ms median RTT; want +${want} ± 3 ms`);
      t.equal(d.lossPct, 0, `delay 40 ${name}: got ${d.lossPct} % loss; want 0`);
    }
    // Fresh neighbour caches: ARP for the ISP gateway must still be answered
    // while the gateway routes office1's traffic into the relay.
    await lab.mustExec('office1', ['ip', 'neigh', 'flush', 'all']);
    await lab.mustExec('ispa', ['ip', 'neigh', 'flush', 'all']);
    const fresh = await pingOne(lab, 'office1', office2Wan, { count: 20 });
    t.equal(fresh.lossPct, 0, `got ${fresh.lossPct} % loss with fresh ARP caches under delay; want 0`);
    const s = await wan.stats();
    const relay = s.relay ?? { rx_packets: 0, tx_packets: -1, queued: 0 };
    t.ok(relay.rx_packets >= 200 && relay.rx_packets === relay.tx_packets + relay.queued,
      `got relay counters ${JSON.stringify(s.relay)}; want every packet read written back or queued`);
    // Traffic to the ISP router itself crosses the link too.
    const gw = await pingOne(lab, 'office1', '198.18.1.1', { count: 50 });
    t.ok(Math.abs(gw.median - 80) <= 3, `got ${gw.median} ms to the gateway with 40 ms both ways; want 80 ± 3`);
    await wan.clear();
  });

  await t.test('jitter spreads the RTT, and a change applies in place', async (t) => {
    await wan.delay(40, 10);
    const j = await pingOne(lab, 'office1', office2Wan, { count: 200 });
    t.ok(j.stddev > 2, `got RTT stddev ${j.stddev.toFixed(2)} ms with ±10 ms jitter; want above 2`);
    t.ok(j.min >= 29, `got min RTT ${j.min} ms; want at least 40 - 10 - 1`);
    t.equal(j.lossPct, 0, 'jitter loses nothing');
    const pid = wan.current().delay!.relay.pid;
    await wan.delay(20);
    t.equal(wan.current().delay!.relay.pid, pid, 'changing the delay keeps the relay');
    const d = await pingOne(lab, 'office1', office2Wan, { count: 100 });
    t.ok(Math.abs(d.median - 20) <= 3, `got ${d.median} ms after changing to 20 ms; want 20 ± 3`);
    await wan.clear();
  });

  await t.test('blackhole drops everything; clear brings it back', async (t) => {
    await wan.blackhole();
    const b = await pingOne(lab, 'office1', office2Wan, { count: 50, timeoutMs: 200 });
    t.equal(b.lossPct, 100, `got ${b.lossPct} % loss in a blackhole; want 100`);
    const link = await lab.mustExec('office1', ['ip', '-j', 'link', 'show', 'dev', 'wan0']);
    t.notMatch(link, /NO-CARRIER/, 'a blackhole keeps the carrier');
    await wan.clear();
    const c = await pingOne(lab, 'office1', office2Wan, { count: 50 });
    t.equal(c.lossPct, 0, `got ${c.lossPct} % loss after clear; want 0`);
  });

  await t.test('link down and up, also on a transit link whose routes must come back', async (t) => {
    for (const end of ['office1:wan0', 'ispa:core']) {
      const imp = lab.impair(end);
      await imp.linkDown();
      const down = await pingOne(lab, 'office1', office2Wan, { count: 20, timeoutMs: 200 });
      t.equal(down.lossPct, 100, `${end} down: got ${down.lossPct} % loss; want 100`);
      if (end === 'office1:wan0') {
        const link = await lab.mustExec('office1', ['ip', 'link', 'show', 'dev', 'wan0']);
        t.match(link, /NO-CARRIER/, 'the appliance sees its carrier go');
      }
      await imp.linkUp();
      const up = await pingOne(lab, 'office1', office2Wan, { count: 50 });
      t.equal(up.lossPct, 0, `${end} up again: got ${up.lossPct} % loss; want 0`);
      await imp.clear();
    }
  });

  await t.test('a LAN link is impaired at its switch port', async (t) => {
    const lan = lab.impair('office1:lan0');
    t.equal(lan.pointId, 'officelan:office1', 'an appliance LAN link is impaired at the switch');
    const before = await lan.snapshot();
    await lan.blackhole();
    const cut = await pingOne(lab, 'officehost', '10.1.0.2', { count: 20, timeoutMs: 200 });
    const other = await pingOne(lab, 'officehost', '10.1.0.3', { count: 20 });
    t.equal(cut.lossPct, 100, `got ${cut.lossPct} % to office1 behind a blackholed port; want 100`);
    t.equal(other.lossPct, 0, `got ${other.lossPct} % to office2 on another port; want 0`);
    await lan.clear('blackhole');
    await lan.loss(20, { direction: 'in' });
    // Lost means dropped at the port, not late: on a loaded box a reply can
    // take longer than fping's default 500 ms (57 dropped, 67 "lost" once).
    const r = await pingOne(lab, 'officehost', '10.1.0.2', { count: 300, timeoutMs: 5000 });
    t.ok(Math.abs(r.lossPct - 20) <= 8, `got ${r.lossPct} % with 20 % loss towards office1; want 20 ± 8`);
    const counter = (await lan.stats()).loss.in?.packets ?? -1;
    // The bridge also floods the other hosts' IPv6 multicast (router and
    // neighbour solicitations, MLD) to office1 in the lab's first seconds.
    t.ok(counter >= r.sent - r.received && counter <= r.sent - r.received + 10, `got counter ${counter}; want the ${r.sent - r.received} lost probes (+10 at most)`);
    await lan.clear();
    t.same(await lan.snapshot(), before, 'clear restores the switch port');
  });

  await t.test('rate limit 20 Mbit/s holds in each direction', async (t) => {
    const free = await iperf(lab, 'office2', office2Wan, 'office1', { seconds: 2 });
    for (const [direction, reverse] of [['out', false], ['in', true]] as const) {
      await wan.rate(20, { direction });
      const r = await iperf(lab, 'office2', office2Wan, 'office1', { seconds: 3, reverse });
      const mbit = r.bitsPerSecond / 1e6;
      t.ok(mbit >= 15 && mbit <= 21, `rate 20 ${direction}: got ${mbit.toFixed(1)} Mbit/s; want 15-21`);
      // The other direction is not limited.
      const other = await iperf(lab, 'office2', office2Wan, 'office1', { seconds: 2, reverse: !reverse });
      t.ok(other.bitsPerSecond > 4 * r.bitsPerSecond, `rate 20 ${direction}: got ${(other.bitsPerSecond / 1e6).toFixed(0)} Mbit/s the other way; want unlimited (unimpaired ${(free.bitsPerSecond / 1e6).toFixed(0)})`);
      await wan.clear();
    }
  });

  await t.test('clear after everything at once restores the link exactly', async (t) => {
    await wan.loss(5, { direction: 'both' });
    await wan.blackhole({ direction: 'in' });
    await wan.rate(50, { direction: 'both' });
    await wan.delay(10, 2, { direction: 'both' });
    await wan.linkDown();
    const relay = wan.current().delay!.relay;
    const busy = await wan.snapshot();
    t.notSame(busy, pristine, 'the impairments show in the snapshot');
    t.match(wan.describe(), /link down.*blackhole in.*loss 5 %.*delay 10 ms.*rate 50/, `got ${wan.describe()}`);
    await wan.clear();
    t.same(await wan.snapshot(), pristine, 'no leftover rule, qdisc, route, device or link state');
    t.notOk(isAlive(relay), 'the relay is gone');
    t.notOk(fs.existsSync(path.join(runDir, 'impair', 'ispa.office1.json')), 'no impairment record is left');
    const tables = await lab.mustExec('ispa', ['nft', 'list', 'tables']);
    t.notMatch(tables, /tern_lab/, 'the lab nft table is removed once empty');
    const c = await pingOne(lab, 'office1', office2Wan, { count: 50 });
    t.equal(c.lossPct, 0, 'traffic flows after clear');
  });

  await t.test('the CLI impairs a running lab, and its relay outlives the command', async (t) => {
    const run = promisify(execFile);
    await run(process.execPath, [cli, 'impair', lab.prefix, 'ispa:office1', 'delay', '30', '--dir', 'in']);
    const relay = wan.current().delay?.relay;
    t.ok(relay && isAlive(relay), 'the relay started by the CLI is running after it exited');
    const d = await pingOne(lab, 'office1', office2Wan, { count: 100 });
    t.ok(Math.abs(d.median - 30) <= 3, `got ${d.median} ms after CLI delay 30 towards office1; want 30 ± 3`);
    const show = await run(process.execPath, [cli, 'impair', runDir, 'office1:wan0', 'show']);
    t.match(show.stdout, /"delay_us": 30000/, 'show prints the relay counters');
    let failed: { code?: number; stderr?: string } = {};
    try {
      await run(process.execPath, [cli, 'impair', lab.prefix, 'office1:wan0', 'loss', '150']);
    } catch (err) {
      failed = err as typeof failed;
    }
    t.equal(failed.code, 1, `got exit ${failed.code} for loss 150; want 1`);
    t.match(failed.stderr ?? '', /TERN_E_LAB_IMPAIR/, 'the error code is printed');
    await run(process.execPath, [cli, 'impair', lab.prefix, 'office1:wan0', 'clear']);
    t.notOk(relay && isAlive(relay), 'clear from the CLI stops the relay');
    t.same(await wan.snapshot(), pristine, 'the CLI clear restores the link');
  });
});
