import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { formatLine, parseLine } from './logs.js';
import { tempAppliance, ternctl } from './testkit.js';

const line = (o: Record<string, unknown>): string => JSON.stringify(o);

t.test('parse and format pino lines', async (t) => {
  const l = parseLine(line({ level: 40, time: '2025-11-26T08:00:01.250Z', daemon: 'tern-tunneld', pid: 7, component: 'rtnl', msg: 'link gone', ifname: 'tn1-2-00' }), 'f')!;
  t.match(l, { level: 'warn', daemon: 'tunneld', component: 'rtnl', msg: 'link gone', fields: { ifname: 'tn1-2-00' }, time: Date.parse('2025-11-26T08:00:01.250Z') });
  t.notOk('pid' in l.fields, 'pid is not a field people need per line');
  t.match(formatLine(l, false), /^2025-11-26 \d\d:00:01\.250 WARN  tunneld\/rtnl\s+link gone  ifname=tn1-2-00$/);
  const text = parseLine('wireguard-go: starting', 'office1.tunneld.log', 'tunneld')!;
  t.match(text, { level: null, daemon: 'tunneld', msg: 'wireguard-go: starting', time: null });
  t.equal(parseLine('   ', 'x'), undefined);
  t.equal(parseLine('{not json', 'x')!.msg, '{not json');
});

t.test('logs: files of this box, filters, merge by time, stdin', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const dir = path.join(app.dir, 'logs');
  fs.mkdirSync(dir);
  const at = (s: number): string => new Date(Date.UTC(2025, 10, 26, 8, 0, s)).toISOString();
  fs.writeFileSync(path.join(dir, 'office-a.tunneld.log'), [
    line({ level: 30, time: at(1), daemon: 'tern-tunneld', msg: 'tunneld one' }),
    line({ level: 50, time: at(4), daemon: 'tern-tunneld', msg: 'tunneld failed' }),
    'plain text from wireguard-go',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'office-a.probed.log'), [
    line({ level: 20, time: at(2), daemon: 'tern-probed', msg: 'probed debug' }),
    line({ level: 40, time: at(3), daemon: 'tern-probed', msg: 'probed warn' }),
  ].join('\n'));
  // Another box's file in the same directory (the lab) is not this box's log.
  fs.writeFileSync(path.join(dir, 'office-b.tunneld.log'), line({ level: 50, time: at(5), daemon: 'tern-tunneld', msg: 'not ours' }));
  const msgs = (out: string): string[] => out.trimEnd().split('\n').map((l) => l.replace(/^.{23} .{5} \S+\s+/, ''));
  const cases: Array<{ args: string[]; want: string[] }> = [
    { args: [], want: ['tunneld one', 'probed warn', 'tunneld failed', 'plain text from wireguard-go'] },
    { args: ['--level', 'debug'], want: ['tunneld one', 'probed debug', 'probed warn', 'tunneld failed', 'plain text from wireguard-go'] },
    { args: ['--level', 'warn', '--daemon', 'probed'], want: ['probed warn'] },
    { args: ['--daemon', 'tern-tunneld', '-n', '1'], want: ['plain text from wireguard-go'] },
    { args: ['--grep', 'failed'], want: ['tunneld failed'] },
    { args: ['--since', '2025-11-26T08:00:02.500Z'], want: ['probed warn', 'tunneld failed'] },
  ];
  for (const c of cases) {
    const r = await ternctl(app, ['logs', '--dir', dir, ...c.args]);
    t.equal(r.code, 0, r.err);
    t.same(msgs(r.out), c.want, `logs ${c.args.join(' ')}`);
  }
  const j = await ternctl(app, ['logs', '--dir', dir, '--level', 'error', '--json']);
  t.match(JSON.parse(j.out), { ok: true, data: { lines: [{ msg: 'tunneld failed', level: 'error', daemon: 'tunneld' }] } });
  const piped = await ternctl(app, ['logs'], `${line({ level: 30, time: at(9), daemon: 'tern-qosd', msg: 'from a pipe' })}\n`);
  t.match(piped.out, /qosd\s+from a pipe/);
  const bad = await ternctl(app, ['logs', '--dir', dir, '-n', 'lots']);
  t.equal(bad.code, 2);
});
