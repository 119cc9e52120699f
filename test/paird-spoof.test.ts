// Lab test of issue 15 (pair sync was unauthenticated): a spoofer on the
// office LAN (a process in officehost) sends forged pair-sync datagrams —
// the old JSON format and the new one with a guessed key or MAC, from its
// own address and with the boxes' addresses forged, and replays of genuine
// datagrams captured off the wire — at both boxes of the real pair. The
// boxes count and ignore them; the master's peer, its peer-WAN route and
// the election stay as they were, and the pair still fails over.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pairSyncPort } from '../daemons/paird/sync.js';
import { deriveSyncKey, encodeSync, syncMacBytes, type SyncBody } from '../daemons/paird/syncwire.js';
import { PairLab, lanAddress, pcapUdpPayloads, type OfficeBox, type PairStatus } from './paird-lab.js';
import { kernelEvents } from './lab/monitor.js';
import { patience, waitFor } from './lab/wait.js';

const p = await PairLab.up();
t.teardown(() => p.down());
const { lab } = p;

const spoofer = '10.1.0.10';
/** Source ports whose datagrams officehost's nft rewrites to a box's address (a forged source). */
const forgedPort: Record<OfficeBox, number> = { office1: 40002, office2: 40003 };
type Reason = keyof NonNullable<PairStatus['sync']>['refused'];

const roles = async (want: Partial<Record<OfficeBox, string>>): Promise<void> => {
  await waitFor(`roles ${JSON.stringify(want)}`, async () => {
    for (const [n, r] of Object.entries(want)) if ((await p.status(n as OfficeBox)).role !== r) return false;
    return true;
  }, patience(3000));
};
const peerWanTable = async (n: OfficeBox): Promise<number> => (await p.call<{ wans: Array<{ table: number }> }>(n, 'pair.peerWan')).wans[0]!.table;
const tableRoutes = async (n: OfficeBox, table: number): Promise<string> => (await lab.exec(n, ['ip', 'route', 'show', 'table', String(table)])).stdout.trim();
/** office1 (master) offers office2's WAN, via office2's address. */
const offering = (): Promise<PairStatus> => waitFor('office1 offering office2\'s WAN via 10.1.0.3', async () => {
  const s = await p.status('office1');
  return s.peerWan.usable && s.peerWan.wans[0]?.via === lanAddress.office2 ? s : undefined;
}, patience(2000));

/**
 * Genuine pair-sync datagrams from one box to the other, captured on the
 * receiver's LAN link (the stand-in for a mirror port). tcpdump stops at
 * `count`; the timeout only ends a capture that would never get them.
 */
async function capture(from: OfficeBox, to: OfficeBox, count: number): Promise<Buffer[]> {
  const file = path.join(lab.runDir, `capture-${from}-${Date.now()}.pcap`);
  const r = await lab.exec(to, ['timeout', '60', 'tcpdump', '-i', 'lan0', '-U', '-w', file, '-c', String(count),
    `udp dst port ${pairSyncPort} and src host ${lanAddress[from]}`], { timeoutMs: 70_000 });
  const got = fs.existsSync(file) ? pcapUdpPayloads(fs.readFileSync(file)).map((d) => d.payload) : [];
  if (got.length !== count) throw new Error(`capture ${from} → ${to}: got ${got.length} datagrams; want ${count}:\n${r.stderr}`);
  return got;
}

interface Burst { to: OfficeBox; forge?: OfficeBox; bytes: Buffer[]; times: number; reason: Reason }

/**
 * Runs the spoofer: a node process in officehost sending each burst's
 * datagrams `times` times over, 2 ms apart, from its own address or (forge)
 * from a source port officehost's nft rewrites to that box's address.
 * Returns how many datagrams each box should count under each reason.
 */
async function spoof(bursts: Burst[]): Promise<Partial<Record<OfficeBox, Partial<Record<Reason, number>>>>> {
  const plan = bursts.map((b) => ({ to: lanAddress[b.to], sport: b.forge ? forgedPort[b.forge] : 0, hex: b.bytes.map((x) => x.toString('hex')), times: b.times }));
  const file = path.join(lab.runDir, `spoof-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify(plan));
  const script = [
    "const dgram = require('node:dgram');",
    "const plan = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));",
    'const wait = (ms) => new Promise((r) => setTimeout(r, ms));',
    '(async () => {',
    '  for (const b of plan) {',
    "    const s = dgram.createSocket('udp4');",
    '    await new Promise((r) => s.bind(b.sport, r));',
    '    for (let i = 0; i < b.times; i++) for (const h of b.hex) {',
    `      await new Promise((r) => s.send(Buffer.from(h, 'hex'), ${pairSyncPort}, b.to, r));`,
    '      await wait(2);',
    '    }',
    '    s.close();',
    '  }',
    '})();',
  ].join('\n');
  await lab.mustExec('officehost', [process.execPath, '-e', script, file], { timeoutMs: 120_000 });
  const want: Partial<Record<OfficeBox, Partial<Record<Reason, number>>>> = {};
  for (const b of bursts) {
    const w = (want[b.to] ??= {});
    w[b.reason] = (w[b.reason] ?? 0) + b.bytes.length * b.times;
  }
  return want;
}

/**
 * Each box's status once its refusal counters grew by exactly `want` since
 * `before` (the spoofer has sent everything by then: what is left is the
 * boxes reading their sockets), or when patience runs out, whatever they
 * say then; `grew` is what they grew by (for the test to compare with `want`).
 */
async function counted(before: Partial<Record<OfficeBox, PairStatus>>, want: Partial<Record<OfficeBox, Partial<Record<Reason, number>>>>):
Promise<Record<OfficeBox, PairStatus & { grew: Array<[string, number]> }>> {
  const grew = (a: PairStatus, b: PairStatus): Array<[string, number]> => Object.entries(b.sync?.refused ?? {})
    .map(([k, v]): [string, number] => [k, v - (a.sync?.refused[k as Reason] ?? 0)]).filter(([, v]) => v !== 0).sort();
  const after = {} as Record<OfficeBox, PairStatus & { grew: Array<[string, number]> }>;
  for (const n of Object.keys(want) as OfficeBox[]) {
    const wanted = JSON.stringify(Object.entries(want[n]!).sort());
    let last: PairStatus & { grew: Array<[string, number]> } = { ...before[n]!, grew: [] };
    await waitFor(`${n} counting the spoofer's datagrams`, async () => {
      const s = await p.status(n);
      last = { ...s, grew: grew(before[n]!, s) };
      return JSON.stringify(last.grew) === wanted;
    }, patience(1000)).catch(() => undefined);
    after[n] = last;
  }
  return after;
}

const statuses = async (): Promise<Record<OfficeBox, PairStatus>> => ({ office1: await p.status('office1'), office2: await p.status('office2') });

t.test('the pair elects and syncs as before, authenticated', async (t) => {
  await p.startPaird('office1');
  await p.startPaird('office2');
  await p.settledHolders(['office1']);
  await roles({ office1: 'master', office2: 'backup' });
  const s1 = await offering();
  const s2 = await p.status('office2');
  t.match(s1.sync?.keyId, /^[0-9a-f]{8}$/, `office1 authenticates pair sync: key id ${s1.sync?.keyId}`);
  t.equal(s1.sync?.keyId, s2.sync?.keyId, `both boxes derive the same key from the site key: ${s1.sync?.keyId} / ${s2.sync?.keyId}`);
  t.equal(s1.peer?.from, lanAddress.office2, 'office1 hears office2 from its address');
  t.equal(s2.peer?.from, lanAddress.office1, 'office2 hears office1 from its address');
  for (const [n, s] of [['office1', s1], ['office2', s2]] as const) {
    t.same(Object.entries(s.sync?.refused ?? {}).filter(([, v]) => v > 0), [], `${n} refused nothing from its peer: ${JSON.stringify(s.sync?.refused)}`);
  }
});

t.test('issue 15: the spoofer is counted and ignored; peer, route and election stay', async (t) => {
  const nft = path.join(lab.runDir, 'spoof.nft');
  fs.writeFileSync(nft, [
    'table ip tern_lab_spoof {', ' chain post {', '  type nat hook postrouting priority srcnat; policy accept;',
    `  udp sport ${forgedPort.office1} snat to ${lanAddress.office1}`, `  udp sport ${forgedPort.office2} snat to ${lanAddress.office2}`, ' }', '}', '',
  ].join('\n'));
  await lab.mustExec('officehost', ['nft', '-f', nft]);
  // Every route change on office1 while the spoofer works (lab/monitor.ts:
  // markers before and after prove the monitor listened throughout).
  let table = 0;
  let before!: Awaited<ReturnType<typeof statuses>>;
  let after!: Awaited<ReturnType<typeof counted>>;
  let want!: Awaited<ReturnType<typeof spoof>>;
  let elapsedMs = 0;
  const routeLines = await kernelEvents(lab, 'office1', 'route', async () => {
    const from2 = await capture('office2', 'office1', 5);
    const from1 = await capture('office1', 'office2', 5);
    table = await peerWanTable('office1');
    before = await statuses();
    const started = Date.now();

    // What the spoofer claims: to be the other box, with its own address as the LAN address.
    const claim2: SyncBody = { site: 'office', box: 'office2', role: 'backup', priority: 100, lanAddress: spoofer, wans: [{ name: 'ispb', up: true }], intervalMs: 100 };
    const claim1: SyncBody = { ...claim2, box: 'office1', role: 'master', priority: 254, wans: [{ name: 'ispa', up: true }] };
    const v1 = (b: SyncBody): Buffer => Buffer.from(JSON.stringify({ tern: 'pair-sync', v: 1, ...b, vrid: 1, seq: 1_000_000 }));
    const guessedKey = deriveSyncKey(randomBytes(32), 'office', 1);
    const header = { vrid: 1, boot: randomBytes(8).toString('hex'), counter: 1_000_000, echoBoot: null, echoCounter: 0 };
    const guessed = (b: SyncBody): Buffer => encodeSync(header, b, guessedKey);
    // The right key id (copied off the wire), a body of the spoofer's, a MAC made up.
    const guessedMac = (captured: Buffer, b: SyncBody): Buffer =>
      Buffer.concat([captured.subarray(0, 40), Buffer.from(JSON.stringify(b)), randomBytes(syncMacBytes)]);
    want = await spoof([
      // At the master, from the spoofer's own address: its peer is alive elsewhere.
      { to: 'office1', bytes: [v1(claim2), guessed(claim2), guessedMac(from2[0]!, claim2), ...from2], times: 5, reason: 'wrongSource' },
      // At the master, with office2's address forged.
      { to: 'office1', forge: 'office2', bytes: [v1(claim2)], times: 10, reason: 'version' },
      { to: 'office1', forge: 'office2', bytes: [guessed(claim2), guessedMac(from2[0]!, claim2)], times: 10, reason: 'badAuth' },
      { to: 'office1', forge: 'office2', bytes: from2, times: 3, reason: 'replay' },
      // At the backup, claiming to be the master.
      { to: 'office2', bytes: [v1(claim1), guessed(claim1)], times: 5, reason: 'wrongSource' },
      { to: 'office2', forge: 'office1', bytes: [guessed(claim1), guessedMac(from1[0]!, claim1)], times: 10, reason: 'badAuth' },
      { to: 'office2', forge: 'office1', bytes: from1, times: 3, reason: 'replay' },
    ]);
    after = await counted(before, want);
    elapsedMs = Date.now() - started;
  });
  const routes = routeLines.join('\n');
  t.notMatch(routes, /10\.1\.0\.10/, `no route via the spoofer appeared at any moment:\n${routes}`);
  const s1 = after.office1;
  t.equal(s1.peer?.box, 'office2', 'office1\'s peer is still office2');
  t.equal(s1.peer?.from, lanAddress.office2, `office1 hears its peer at ${lanAddress.office2}: got ${s1.peer?.from}`);
  t.equal(s1.peer?.boot, before.office1.peer?.boot, 'the same run of office2');
  t.equal(s1.peerWan.wans[0]?.via, lanAddress.office2, `peer WAN next hop: got ${s1.peerWan.wans[0]?.via}; want ${lanAddress.office2}`);
  t.match(await tableRoutes('office1', table), /^default via 10\.1\.0\.3 dev lan0/, 'the peer-WAN table routes via office2');
  for (const n of ['office1', 'office2'] as OfficeBox[]) {
    const w = Object.entries(want[n]!).sort();
    t.same(after[n].grew, w, `${n} counted the spoofer's datagrams by reason: got ${JSON.stringify(after[n].grew)}; want ${JSON.stringify(w)}`);
  }
  for (const n of ['office1', 'office2'] as OfficeBox[]) {
    t.notOk(after[n].sync?.destinations.includes(spoofer) ?? true, `${n} sends nothing to the spoofer: ${JSON.stringify(after[n].sync!.destinations)}`);
    const tr = (s: PairStatus): number => (s.instance as unknown as { counters: { transitions: number } }).counters.transitions;
    t.equal(tr(after[n]), tr(before[n]), `${n}: no role change while spoofed`);
  }
  t.equal(after.office2.peer?.from, lanAddress.office1, 'office2\'s peer is still office1 at its address');
  t.equal(after.office2.peer?.boot, before.office2.peer?.boot, 'the same run of office1');
  t.same(await p.vipHolders(), ['office1'], 'the VIP stayed on office1');

  // Logged, but at most once a minute per source (and the old format once).
  const log = fs.readFileSync(path.join(lab.runDir, 'logs', 'office1.paird.log'), 'utf8').split('\n');
  const minutes = 1 + Math.floor(elapsedMs / 60_000);
  for (const src of [spoofer, lanAddress.office2]) {
    const lines = log.filter((l) => l.includes(`refused a datagram from ${src} `)).length;
    t.ok(lines >= 1 && lines <= minutes, `refusal lines for ${src}: got ${lines}; want 1-${minutes} (${elapsedMs} ms of spoofing)`);
  }
  t.equal(log.filter((l) => l.includes(`${lanAddress.office2} speaks another pair-sync version`)).length, 1, 'the old format is logged once');
  t.equal(after.office1.sync?.lastRefused?.from, lanAddress.office2, 'the last refusal names its source');
  await lab.exec('officehost', ['nft', 'delete', 'table', 'ip', 'tern_lab_spoof']);
});

t.test('with the peer silent the spoofer gets nowhere either; the restarted peer is taken at once', async (t) => {
  const captured = await capture('office2', 'office1', 3);
  await p.stopPaird('office2');
  await waitFor('office1 finding office2 silent', async () => (await p.status('office1')).peer?.alive === false, patience(1000));
  await roles({ office1: 'master' });
  const before = { office1: await p.status('office1') };
  const claim: SyncBody = { site: 'office', box: 'office2', role: 'backup', priority: 100, lanAddress: spoofer, wans: [{ name: 'ispb', up: true }], intervalMs: 100 };
  const want = await spoof([
    { to: 'office1', bytes: [encodeSync({ vrid: 1, boot: randomBytes(8).toString('hex'), counter: 1, echoBoot: before.office1.sync?.boot ?? null, echoCounter: 1 }, claim, deriveSyncKey(randomBytes(32), 'office', 1))], times: 10, reason: 'badAuth' },
    { to: 'office1', bytes: captured, times: 3, reason: 'replay' },
  ]);
  const s1 = (await counted(before, want)).office1;
  t.same(s1.grew, Object.entries(want.office1!).sort(), `office1 counted the spoofer's datagrams by reason: got ${JSON.stringify(s1.grew)}`);
  t.equal(s1.peer?.from, lanAddress.office2, `office1's (silent) peer is still office2 at ${lanAddress.office2}: got ${s1.peer?.from}`);
  t.equal(s1.peer?.alive, false, 'and still silent');
  t.notOk(s1.sync!.destinations.includes(spoofer), `nothing is sent to the spoofer: ${JSON.stringify(s1.sync!.destinations)}`);
  t.equal(s1.peerWan.usable, false, 'no peer-WAN route while the peer is silent');

  await p.startPaird('office2');
  const back = await offering();
  t.not(back.peer?.boot, before.office1.peer?.boot, 'office1 took office2\'s new run');
  t.equal(back.sync!.sessions, before.office1.sync!.sessions + 1, `one new session: got ${back.sync!.sessions - before.office1.sync!.sessions}`);
  await roles({ office1: 'master', office2: 'backup' });
});

t.test('failover unchanged: the master stops, office2 takes over and offers office1\'s WAN; office1 back', async (t) => {
  await p.stopPaird('office1');
  await roles({ office2: 'master' });
  t.equal((await p.status('office2')).lastTransition?.reason, 'masterResigned', 'office2 took over on priority 0');
  await p.startPaird('office1');
  await p.settledHolders(['office1'], 'office1 preempting after its restart');
  await roles({ office1: 'master', office2: 'backup' });
  const s1 = await offering();
  const refused = Object.values(s1.sync?.refused ?? {}).reduce((a, b) => a + b, 0);
  t.equal(refused, 0, `the restarted office1 refused nothing from office2: ${JSON.stringify(s1.sync!.refused)}`);
});
