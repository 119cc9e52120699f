import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HookRunner, hookEnv, type HookEvent } from './hooks.js';

const event: HookEvent = {
  event: 'transition', from: 'backup', to: 'master', reason: 'masterDown', detail: 'no advert for Master_Down_Interval (360.9375 ms)',
  priority: 100, vrid: 1, interface: 'lan0', vips: ['10.1.0.1/24'], at: Date.UTC(2026, 0, 1), box: 'office2',
};

t.test('the event as environment variables', async (t) => {
  const env = hookEnv(event, '/bin');
  t.same(env, {
    PATH: '/bin', TERN_PAIR_EVENT: 'transition', TERN_PAIR_FROM: 'backup', TERN_PAIR_TO: 'master', TERN_PAIR_ROLE: 'master',
    TERN_PAIR_REASON: 'masterDown', TERN_PAIR_DETAIL: 'no advert for Master_Down_Interval (360.9375 ms)', TERN_PAIR_PRIORITY: '100',
    TERN_PAIR_VRID: '1', TERN_PAIR_INTERFACE: 'lan0', TERN_PAIR_VIPS: '10.1.0.1/24', TERN_PAIR_AT: '2026-01-01T00:00:00.000Z', TERN_PAIR_BOX: 'office2',
  });
});

t.test('executables run in name order with the event; others are skipped; failures are counted', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-hooks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out.txt');
  const write = (name: string, body: string, mode = 0o755): void => fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode });
  write('20-second', `echo "second $TERN_PAIR_TO" >> ${out}`);
  write('10-first', `echo "first $TERN_PAIR_FROM>$TERN_PAIR_TO $TERN_PAIR_VIPS" >> ${out}; echo hello`);
  write('30-fails', 'echo oops >&2; exit 3');
  write('40-not-executable', `echo never >> ${out}`, 0o644);
  write('50-backup~', `echo never >> ${out}`);
  fs.mkdirSync(path.join(dir, '60-a-directory'));
  const r = new HookRunner({ dir });
  t.same(r.hooks().map((h) => path.basename(h)), ['10-first', '20-second', '30-fails']);
  const results = await r.run(event);
  t.same(results.map((x) => [path.basename(x.hook), x.code]), [['10-first', 0], ['20-second', 0], ['30-fails', 3]]);
  t.equal(results[0]!.output.trim(), 'hello');
  t.equal(results[2]!.output.trim(), 'oops', 'stderr is kept for the log');
  t.equal(fs.readFileSync(out, 'utf8'), 'first backup>master 10.1.0.1/24\nsecond master\n');
  t.same(r.counters, { runs: 3, failures: 1 });
  t.same(new HookRunner({ dir: path.join(dir, 'missing') }).hooks(), [], 'no directory: no hooks');
});

t.test('a hook that hangs is killed; later events still run, in order', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-hooks-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out.txt');
  fs.writeFileSync(path.join(dir, 'hook'), `#!/bin/sh\necho "$TERN_PAIR_TO" >> ${out}\n[ "$TERN_PAIR_TO" = master ] && exec sleep 60\nexit 0\n`, { mode: 0o755 });
  const r = new HookRunner({ dir, timeoutMs: 300 });
  const first = r.run(event);
  const second = r.run({ ...event, from: 'master', to: 'backup' });
  const [a, b] = await Promise.all([first, second]);
  t.equal(a[0]!.timedOut, true, 'the hanging hook was killed');
  t.equal(a[0]!.signal, 'SIGKILL');
  t.equal(b[0]!.code, 0);
  t.equal(fs.readFileSync(out, 'utf8'), 'master\nbackup\n', 'events in the order they happened');
});
