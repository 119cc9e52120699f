// A fresh lab, as `make lab` starts it (every daemon on every appliance at
// once, nothing injected): over its first 60 s of probing no path reports
// loss, and probed writes no path.state event but each path's first
// unknown → up (issue 15: new paths read 18-40 % loss and went degraded,
// because the far end answered its first probes from another address of its
// tunnel while its path address was not bound yet).
//
// "60 s" is counted in probes, not wall time: the test waits until every
// path of every box has sent 300 probes (60 s at the default 5/s).
import path from 'node:path';
import t from 'tap';
import type { PathMetricsMessage } from '../daemons/probed/daemon.js';
import type { HistoryResult } from '../daemons/lib/history/index.js';
import type { SessionCounters } from '../daemons/probed/session.js';
import { Store } from '../daemons/lib/store/index.js';
import { defaultTopology, Lab } from './lab/index.js';
import { startDaemons } from './lab/daemons.js';
import { busCall, waitFor } from './lab/wait.js';

const appliances = ['office1', 'office2', 'home1', 'cloud1'] as const;
// Paths are local WANs × remote WANs: home1 has two (ispa and the metered ispd).
const expectedPaths: Record<(typeof appliances)[number], number> = { office1: 3, office2: 3, home1: 6, cloud1: 4 };
const probesWanted = 300;

const lab = await Lab.up(defaultTopology());
t.teardown(() => lab.down());
const startedAt = Date.now();
startDaemons(lab);

const sock = (node: string, daemon: string): string => path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${daemon}.sock`);
type Row = PathMetricsMessage & { counters: SessionCounters };

t.test(`every path probes ${probesWanted} times from a fresh start without a loss or a state change`, async (t) => {
  const rows = new Map<string, Row[]>();
  for (const node of appliances) {
    // 300 probes take 60 s; a loaded box may take longer to start: the
    // bound is on tries, each a bus round trip and a 500 ms pause.
    const r = await waitFor(`${node}: ${expectedPaths[node]} paths with ${probesWanted} probes sent`, async () => {
      const m = await busCall<Row[]>(sock(node, 'probed'), 'paths.metrics');
      return m.length === expectedPaths[node] && m.every((p) => p.counters.sent >= probesWanted) ? m : undefined;
    }, { tries: 600, everyMs: 500 });
    rows.set(node, r);
  }
  const to = Date.now();
  for (const node of appliances) {
    for (const p of rows.get(node)!) {
      t.comment(`${node} ${p.path}: sent ${p.counters.sent}, answered ${p.counters.answered} (late ${p.counters.late}), timeouts ${p.counters.timeouts}, before the first answer ${p.counters.beforeFirstAnswer}; window loss ${p.lossPct}%`);
      t.equal(p.state, 'up', `${node} ${p.path}: got state ${p.state}; want up`);
      t.equal(p.lossPct, 0, `${node} ${p.path}: got window loss ${p.lossPct}%; want 0`);
      const h = await busCall<HistoryResult>(sock(node, 'probed'), 'history.query', { subject: p.path, from: startedAt - 1000, to, resolution: 'raw' });
      t.ok(h.totals.sent >= probesWanted - 10, `${node} ${p.path}: history holds ${h.totals.sent} probes; want about ${probesWanted}`);
      t.equal(h.totals.lost, 0, `${node} ${p.path}: history holds ${h.totals.lost} lost of ${h.totals.sent}; want 0 (nothing was injected)`);
    }
    const db = await Store.open(path.join(lab.applianceEnv(node).TERN_STATE_DIR!, 'tern.db'));
    try {
      const events = await db.all<{ subject: string; detail: string }>("SELECT subject, detail FROM events WHERE kind = 'path.state' ORDER BY id");
      const moves = events.map((e) => `${e.subject}: ${(JSON.parse(e.detail) as { from: string; to: string }).from}->${(JSON.parse(e.detail) as { from: string; to: string }).to}`);
      const want = rows.get(node)!.map((p) => `${p.path}: unknown->up`).sort();
      t.same(moves.slice().sort(), want, `${node}: got path.state events ${JSON.stringify(moves)}; want only each path's first unknown->up`);
    } finally {
      await db.close();
    }
  }
});
