import t from 'tap';
import { parseDuration, parseRange, parseTime } from './time.js';

t.test('durations', async (t) => {
  const cases: Array<[string, number]> = [['90s', 90_000], ['2m', 120_000], ['1h30m', 5_400_000], ['500ms', 500], ['7d', 604_800_000], ['1w', 604_800_000], ['120', 120_000], ['0', 0], ['1.5s', 1500]];
  for (const [text, want] of cases) t.equal(parseDuration(text), want, `${text}: got ${parseDuration(text)}; want ${want}`);
  for (const bad of ['', 'soon', '10x', '1h 30m', '-5s', 'm5']) {
    t.throws(() => parseDuration(bad), { code: 'TERN_E_CTL_USAGE' }, `${JSON.stringify(bad)} is a usage error`);
  }
});

t.test('points in time', async (t) => {
  const now = Date.UTC(2025, 10, 26, 12, 0, 0);
  const cases: Array<[string, number]> = [
    ['now', now], ['24h', now - 86_400_000], ['-90m', now - 5_400_000], ['@1764144000', 1_764_144_000_000],
    ['2025-11-26T08:00Z', Date.UTC(2025, 10, 26, 8, 0)], ['2025-11-26T08:00:30+01:00', Date.UTC(2025, 10, 26, 7, 0, 30)],
    ['2025-11-26 08:00', new Date(2025, 10, 26, 8, 0).getTime()], ['2025-11-26', new Date(2025, 10, 26).getTime()],
  ];
  for (const [text, want] of cases) t.equal(parseTime(text, now), want, `${text}: got ${parseTime(text, now)}; want ${want}`);
  for (const bad of ['yesterday', '2025-13-45', '26/11/2025', '', 'now-1h']) {
    t.throws(() => parseTime(bad, now), { code: 'TERN_E_CTL_USAGE', message: /hint:/ }, `${JSON.stringify(bad)} is a usage error with a hint`);
  }
});

t.test('ranges run forward', async (t) => {
  const now = 1_000_000_000_000;
  t.same(parseRange('1h', 'now', now), { from: now - 3_600_000, to: now });
  t.throws(() => parseRange('now', '1h', now), { code: 'TERN_E_CTL_USAGE' }, 'from after to');
  t.throws(() => parseRange('now', 'now', now), { code: 'TERN_E_CTL_USAGE' }, 'empty range');
});
