// tunneld's path list as probed takes it in: checked against tunneld's
// contract, a list or path that does not match is refused, logged with the
// field it failed on, and the last good list stands.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t, { type Test } from 'tap';
import { BusServer } from '../lib/bus/index.js';
import { createLogger } from '../lib/log/index.js';
import { pathTunnel, type PlannedTunnel } from '../lib/testkit/tunneld.fixture.js';
import { TunneldWatcher, type TunneldPath } from './tunnels.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => T | undefined | false, ms = 8000): Promise<T> {
  for (let waited = 0; waited < ms; waited += 10) {
    const v = fn();
    if (v) return v;
    await sleep(10);
  }
  throw new Error(`tunnels.test: gave up waiting for ${what}`);
}

const planned: PlannedTunnel[] = [
  { name: 'inet/office/isp-a', site: 'office', localWan: 'inet', remoteWan: 'isp-a', ifname: 'tn2-1-00', listenPort: 51836, table: 1016, mark: 0x10016, remoteLinkAddress: 'fe80::1:0' },
  { name: 'inet/office/isp-b', site: 'office', localWan: 'inet', remoteWan: 'isp-b', ifname: 'tn2-1-01', listenPort: 51837, table: 1017, mark: 0x10017, remoteLinkAddress: 'fe80::1:1' },
];

/** A fake tunneld serving whatever list is set, a watcher on it asking every relistMs, and what the watcher said. */
async function setup(t: Test, relistMs = 20): Promise<{
  tunneld: BusServer; serve: (list: unknown) => void; watcher: TunneldWatcher; lists: TunneldPath[][]; warnings: Array<Record<string, unknown>>;
}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-probed-tunnels-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let served: unknown = [];
  const tunneld = new BusServer({ socketPath: path.join(dir, 'tunneld.sock'), group: false });
  tunneld.method('paths.list', () => served);
  await tunneld.listen();
  const warnings: Array<Record<string, unknown>> = [];
  const log = new Writable({
    write(chunk, _enc, done) {
      const line = JSON.parse(String(chunk)) as Record<string, unknown>;
      if (line.level === 40) warnings.push(line);
      done();
    },
  });
  const lists: TunneldPath[][] = [];
  const watcher = new TunneldWatcher({
    socketPath: path.join(dir, 'tunneld.sock'), relistMs, onList: (l) => { lists.push(l); },
    logger: createLogger({ name: 'probed', destination: log }),
  });
  watcher.start();
  t.teardown(async () => { await watcher.stop(); await tunneld.close(); });
  return { tunneld, serve: (list) => { served = list; }, watcher, lists, warnings };
}

const good = planned.map((p) => pathTunnel(p));

t.test('a paths.list that does not match tunneld\'s contract is refused, logged with its field, and the last list stands', async (t) => {
  const cases: Array<{ name: string; list: unknown; pointer: string }> = [
    { name: 'probe address not a string', list: [good[0], { ...good[1], probeAddress: 5 }], pointer: '/1/probeAddress' },
    { name: 'interface name empty', list: [{ ...good[0], ifname: '' }, good[1]], pointer: '/0/ifname' },
    { name: 'probe address missing', list: [{ ...good[0], probeAddress: undefined }], pointer: '/0/probeAddress' },
    { name: 'tunnel state not one of tunneld\'s', list: [{ ...good[0], state: 'sideways' }, good[1]], pointer: '/0/state' },
    { name: 'not a list', list: { paths: good }, pointer: '' },
  ];
  for (const c of cases) {
    const { serve, watcher, lists, warnings } = await setup(t);
    serve(good);
    await until('the first list', () => lists.length === 1);
    serve(c.list);
    const refusal = await until(`${c.name}: a refusal logged`, () => warnings.find((w) => w.code === 'TERN_E_BUS_CONTRACT'));
    t.equal(refusal.pointer, c.pointer, `${c.name}: got field ${String(refusal.pointer)}; want ${c.pointer}`);
    t.match(refusal.err, /paths\.list/, `${c.name}: got ${String(refusal.err)}; want the error to name paths.list`);
    // Asked again every 20 ms: the same refusal, counted each time, logged once.
    const refusedBefore = watcher.refused;
    await until(`${c.name}: the list asked again`, () => watcher.refused >= refusedBefore + 3);
    t.equal(warnings.length, 1, `${c.name}: got ${warnings.length} warnings for one refusal repeated; want 1`);
    t.equal(lists.length, 1, `${c.name}: got ${lists.length} lists handed on; want 1 (the refused one is not)`);
    // tunneld's next good list is taken again.
    serve(good.slice(0, 1));
    await until(`${c.name}: the next good list`, () => lists.length === 2);
    t.same(lists[1]!.map((p) => p.name), ['inet/office/isp-a'], `${c.name}: got ${lists[1]!.map((p) => p.name).join(', ')}; want the good list after a refusal`);
  }
});

t.test('a paths.changed that does not match tunneld\'s contract is dropped; a good one is taken', async (t) => {
  // Not asked again meanwhile: the list on connecting, then the changes alone.
  const { tunneld, serve, watcher, lists } = await setup(t, 600_000);
  serve(good.slice(0, 1));
  await until('the first list', () => lists.length === 1);
  const refusedBefore = watcher.refused;
  tunneld.publish('paths.changed', { ...good[1], probeAddress: 7 });
  tunneld.publish('paths.changed', good[1]);
  await until('the good change', () => lists.length === 2);
  t.equal(watcher.refused, refusedBefore + 1, `got ${watcher.refused - refusedBefore} payloads refused; want 1`);
  t.same(lists.map((l) => l.map((p) => `${p.name} ${p.probeAddress}`)), [
    ['inet/office/isp-a fe80::1:0%tn2-1-00'],
    ['inet/office/isp-a fe80::1:0%tn2-1-00', 'inet/office/isp-b fe80::1:1%tn2-1-01'],
  ], 'only the good change is taken');
});
