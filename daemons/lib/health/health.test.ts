import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Health, healthWarnings, warningPattern } from './index.js';
import { FakeClock } from '../clock/index.js';

t.test('set, update and clear emit change only on real changes', async (t) => {
  const clock = new FakeClock({ now: 1000 });
  const h = new Health<string>({ clock });
  const events: string[] = [];
  h.on('change', (e: { kind: string; warning: { name: string } }) => events.push(`${e.kind}:${e.warning.name}`));

  h.set('wan.wan0.down', 'wan0: all probe targets fail');
  clock.advance(500);
  h.set('wan.wan0.down', 'wan0: all probe targets fail');
  t.same(events, ['set:wan.wan0.down'], 'a repeated identical set is not a change');
  h.set('wan.wan0.down', 'wan0: all 3 targets fail', 'error');
  t.equal(h.get('wan.wan0.down')?.since, 1000, `since is kept across updates; got ${h.get('wan.wan0.down')?.since}; want 1000`);
  h.clear('wan.wan0.down');
  h.clear('wan.wan0.down');
  t.same(events, ['set:wan.wan0.down', 'set:wan.wan0.down', 'clear:wan.wan0.down']);
  t.equal(h.overall(), 'ok');
});

t.test('overall and list order', async (t) => {
  const h = new Health<string>();
  const cases: Array<{ name: string; set: Array<[string, 'warning' | 'error']>; want: string; order: string[] }> = [
    { name: 'empty', set: [], want: 'ok', order: [] },
    { name: 'one warning', set: [['b', 'warning']], want: 'warning', order: ['b'] },
    { name: 'error wins', set: [['b', 'warning'], ['a', 'warning'], ['z', 'error']], want: 'error', order: ['z', 'a', 'b'] },
  ];
  for (const c of cases) {
    for (const w of h.list()) h.clear(w.name);
    for (const [n, s] of c.set) h.set(n, n, s);
    t.equal(h.overall(), c.want, `${c.name}: overall got ${h.overall()}; want ${c.want}`);
    t.same(h.list().map((w) => w.name), c.order, `${c.name}: order`);
  }
});

t.test('check raises and clears by condition', async (t) => {
  const h = new Health<string>();
  h.check('x', true, 'bad');
  t.ok(h.get('x'));
  h.check('x', false, 'bad');
  t.equal(h.get('x'), undefined);
});

// The catalogue (issue 16): every warning a daemon raises is registered,
// documented in docs/health.md, and nothing else is.
const repo = fileURLToPath(new URL('../../../../', import.meta.url));

t.test('a name outside the catalogue does not compile', async (t) => {
  const h = new Health();
  // @ts-expect-error 'probed.wan' without its WAN is no registered name (tsc fails here if it were accepted)
  h.set('probed.wan', 'x');
  // @ts-expect-error a typo of tunneld.reconcile
  h.check('tunneld.reconcil', true, 'x');
  h.set('probed.wan.isp-a', 'waiting for a lease');
  t.equal(h.list().length, 3, `the registry itself takes what it is given at run time: got ${h.list().length} warnings; want 3`);
});

t.test('warningPattern matches names to catalogue entries', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['config.reload', 'config.reload'],
    ['probed.wan.isp-a', 'probed.wan.<wan>'],
    ['qos.autorate.lte', 'qos.autorate.<wan>'],
    ['qos.wan.', undefined],
    ['probed.wan', undefined],
    ['wan.wan0.down', undefined],
    ['tunneld.reconcile.extra', undefined],
  ];
  for (const [name, want] of cases) t.equal(warningPattern(name), want, `${name}: got ${warningPattern(name)}; want ${want}`);
});

t.test('docs/health.md lists every warning of the catalogue, and only those', async (t) => {
  const doc = fs.readFileSync(path.join(repo, 'docs', 'health.md'), 'utf8');
  const documented = [...doc.matchAll(/^\|\s*`([a-z][a-z0-9.<>-]*)`\s*\|/gm)].map((m) => m[1]!);
  const registered = Object.keys(healthWarnings);
  const undocumented = registered.filter((n) => !documented.includes(n));
  const stale = documented.filter((n) => !registered.includes(n));
  t.same(undocumented, [], `got undocumented warnings ${undocumented.join(', ')}; want none`);
  t.same(stale, [], `got documented warnings the catalogue lacks ${stale.join(', ')}; want none`);
  for (const n of registered) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${n}\``)) ?? '';
    t.ok(row.split('|').length >= 6 && !/\|\s*\|/.test(row), `${n}: a row with its daemon, severity, meaning and remedy; got ${JSON.stringify(row)}`);
  }
});

t.test('every warning name raised in daemons/ is registered', async (t) => {
  // A cast can get past the type; this reads the calls themselves.
  const raised: Array<{ file: string; name: string }> = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(/\bhealth\??\.(?:set|check|clear)\(\s*(['`])([^'`]*)\1/g)) {
          // A template's ${...} stands for a WAN or a key: any non-empty text.
          raised.push({ file: path.relative(repo, p), name: m[2]!.replace(/\$\{[^}]*\}/g, 'x') });
        }
      }
    }
  };
  walk(path.join(repo, 'daemons'));
  t.ok(raised.length >= 25, `found ${raised.length} raises in daemons/`);
  const unknown = raised.filter((r) => warningPattern(r.name) === undefined && !/^[a-z]+\.x$/.test(r.name)).map((r) => `${r.file}: ${r.name}`);
  t.same(unknown, [], `got unregistered warnings:\n  ${unknown.join('\n  ')}\nwant none (add them to daemons/lib/health/catalogue.ts and docs/health.md)`);
  const prefixes = raised.filter((r) => /^[a-z]+\.x$/.test(r.name)).map((r) => r.name.slice(0, -1));
  for (const p of prefixes) {
    t.ok(Object.keys(healthWarnings).some((n) => n.startsWith(p)), `${p}<key>: some catalogue entry starts with ${p}`);
  }
});
