import t from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { recordEvent } from '../../lib/events/index.js';
import { History, type ProbeSample } from '../../lib/history/index.js';
import { Store, coreMigrations } from '../../lib/store/index.js';
import { tempAppliance, testContext, ternctl } from '../testkit.js';
import { lossReport, renderHtml, renderSvg, renderTerminal, svgHeight, svgWidth } from './index.js';
import { blend, colourBox, countColour, decodePng, inkedPixels } from './png.js';
import { niceTicks, timeTicks } from './scale.js';
import { lossFillOpacity, lossPanel, palette } from './svg.js';

t.test('scales', async (t) => {
  t.same(niceTicks(0, 5, 1), { max: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
  t.same(niceTicks(12.3), { max: 12.5, ticks: [0, 2.5, 5, 7.5, 10, 12.5] });
  t.same(niceTicks(100).max, 100);
  const from = new Date(2025, 10, 26, 8, 0, 7).getTime();
  const r = timeTicks(from, from + 3_600_000, 8);
  t.equal(r.step, 600_000, 'an hour: ticks every 10 minutes');
  t.equal(new Date(r.ticks[0]!).getMinutes() % 10, 0, 'on local 10-minute boundaries');
  t.ok(r.ticks.length <= 8 && r.ticks.length >= 5);
});

/**
 * A lab-like hour: two paths to cloud probed at 5/s; ispa/cloud/ispc gets
 * 20 % loss (mostly on the way out) from minute 20 to 30, and RTT +40 ms
 * from minute 40 to 45; ispb/cloud/ispc stays clean.
 */
function syntheticRun(from: number): ProbeSample[] {
  const out: ProbeSample[] = [];
  for (let s = 0; s < 3600; s++) {
    for (const path of ['ispa/cloud/ispc', 'ispb/cloud/ispc']) {
      const lossy = path.startsWith('ispa') && s >= 1200 && s < 1800;
      const lost = lossy ? (s % 5 === 0 ? 2 : 1) : 0;
      const sent = 5;
      const rtt = 2 + (path.startsWith('ispa') && s >= 2400 && s < 2700 ? 40 : 0) + (s % 7) * 0.1;
      const answered = sent - lost;
      out.push({
        subject: path, t: from + s * 1000, sent, lost, lostFwd: lost > 0 ? lost - (s % 3 === 0 ? 1 : 0) : 0, lostRev: lost > 0 && s % 3 === 0 ? 1 : 0,
        rttSum: rtt * answered, rttSqSum: rtt * rtt * answered, rttMin: rtt - 0.05, rttMax: rtt + 0.05, jitterSum: 0.2 * answered, jitterMax: 0.4,
      });
    }
  }
  return out;
}

t.test('a report from the state database when probed is not running', async (t) => {
  const app = tempAppliance();
  t.teardown(app.cleanup);
  const to = Math.floor(Date.now() / 1000) * 1000;
  const from = to - 3_600_000;
  const store = await Store.open(app.paths.dbFile, { migrations: coreMigrations });
  const history = new History(store, { retention: { rawHours: 24, minuteDays: 31, hourDays: 365 } });
  await history.record(syntheticRun(from));
  const ev = (ts: number, kind: string, subject: string | null, detail: unknown): Promise<unknown> =>
    recordEvent(store, { ts, daemon: 'probed', kind, subject, detail });
  await ev(from + 1_203_000, 'path.state', 'ispa/cloud/ispc', { from: 'up', to: 'degraded', reason: 'loss 20% > 5%' });
  await ev(from + 1_815_000, 'path.state', 'ispa/cloud/ispc', { from: 'degraded', to: 'up', reason: 'thresholds cleared' });
  await ev(from + 2_000_000, 'pair.failover', null, { from: 'office1', to: 'office2', reason: 'WAN ispa down' });
  await ev(from + 2_100_000, 'path.state', 'ispa/home/ispa', { from: 'up', to: 'down' });
  await store.close();

  const ctx = testContext(app);
  t.teardown(() => ctx.daemons.close());
  const data = await lossReport(ctx, { paths: ['ispa/cloud/ispc', 'ispb/cloud/ispc'], wans: [], from: String(from), to: String(to), resolution: 'auto' }).catch((e: unknown) => e as Error);
  t.match(data, { message: /is not a time/ }, 'bare numbers are not times: a usage error');
  const report = await lossReport(ctx, { paths: ['ispa/cloud/ispc', 'ispb/cloud/ispc'], wans: [], from: `@${from / 1000}`, to: `@${to / 1000}`, resolution: 'auto' });
  t.equal(report.source, 'database');
  t.equal(report.resolution, 'raw', 'one hour: 1 s buckets');
  const a = report.series.find((s) => s.subject === 'ispa/cloud/ispc')!;
  const b = report.series.find((s) => s.subject === 'ispb/cloud/ispc')!;
  t.equal(a.totals.sent, 18_000);
  t.equal(a.totals.lost, 720, `got ${a.totals.lost} lost; want 600 s × 1.2`);
  t.equal(b.totals.lost, 0);
  t.same(report.events.map((e) => e.kind), ['path.state', 'path.state', 'pair.failover'], 'events of the reported paths and the box; not of other paths');

  // The SVG: size, structure, and what a renderer makes of it.
  const svg = renderSvg(report, { degradedLossPct: 5 });
  t.match(svg, new RegExp(`<svg [^>]*width="${svgWidth}" height="${svgHeight(report)}"`));
  for (const want of ['packet loss (%)', 'round-trip time (ms)', 'ispa/cloud/ispc', 'ispb/cloud/ispc', 'loss 4%', 'Events', 'pair.failover', 'degraded above 5%']) t.match(svg, want, `the SVG shows ${want}`);
  t.notMatch(svg, /(href|src)=["']https?:/, 'no external references');
  t.equal((svg.match(/<circle /g) ?? []).length, 3, 'one marker per event');
  const html = renderHtml(report, { degradedLossPct: 5 });
  t.match(html, /<table>[\s\S]*ispa\/cloud\/ispc[\s\S]*720/);
  t.notMatch(html, /<script|(href|src)=["']https?:/, 'no scripts, no external fetches');

  const rsvg = spawnSync('rsvg-convert', ['--version']);
  if (rsvg.status !== 0) {
    t.fail('rsvg-convert is missing: apt-get install librsvg2-bin');
    return;
  }
  const out = path.join(app.dir, 'loss.svg');
  fs.writeFileSync(out, svg);
  const png = `${out}.png`;
  const r = spawnSync('rsvg-convert', ['-o', png, out], { encoding: 'utf8' });
  t.equal(r.status, 0, `rsvg-convert: ${r.stderr}`);
  const img = decodePng(fs.readFileSync(png));
  t.same([img.width, img.height], [svgWidth, svgHeight(report)], 'the PNG has the size the SVG declares');
  t.ok(inkedPixels(img) > 20_000, `got ${inkedPixels(img)} drawn pixels; want a chart, not a blank page`);
  // The lossy path's shaded loss area: where minutes 20-30 of the hour are, up to ~24 % of the scale.
  const area = colourBox(img, blend(palette[0]!, lossFillOpacity), 4, lossPanel);
  const xAt = (min: number): number => lossPanel.x + (min / 60) * lossPanel.width;
  t.ok(area, 'the loss area is drawn');
  t.ok(Math.abs(area!.x0 - xAt(20)) <= 6 && Math.abs(area!.x1 - xAt(30)) <= 6, `loss area spans x ${area!.x0}-${area!.x1}; want about ${xAt(20).toFixed(0)}-${xAt(30).toFixed(0)} (minutes 20-30)`);
  t.ok(area!.y1 >= lossPanel.y + lossPanel.height - 3 && area!.y0 < lossPanel.y + lossPanel.height * 0.2, `loss area rises from the axis to near the top (y ${area!.y0}-${area!.y1})`);
  t.ok(area!.count > 0.5 * (xAt(30) - xAt(20)) * lossPanel.height * 0.8, `loss area has ${area!.count} pixels; want most of its box`);
  t.ok(countColour(img, palette[1]!, 10) > 150, `the clean path's line is drawn (${countColour(img, palette[1]!, 10)} pixels)`);

  const term = renderTerminal(report, { width: 100 });
  const lineA = term.split('\n').find((l) => l.startsWith('ispa/cloud/ispc  '))!;
  const bars = lineA.slice('ispa/cloud/ispc  '.length);
  t.match(bars, /^·+[▁-█]+·+$/u, `the loss shows in the middle of the bar: ${bars}`);
  const lineB = term.split('\n').find((l) => l.startsWith('ispb/cloud/ispc  '))!;
  t.match(lineB.slice('ispb/cloud/ispc  '.length), /^·+$/, 'the clean path has no bars');

  // The same through the command line, with files.
  const cli = await ternctl(app, ['report', 'loss', '--path', 'ispa/cloud/ispc', '--from', `@${from / 1000}`, '--to', `@${to / 1000}`, '--svg', out, '--html', `${out}.html`]);
  t.equal(cli.code, 0, cli.err);
  t.match(cli.out, /wrote SVG .*loss\.svg \(1000x\d+\)/);
  t.ok(fs.statSync(`${out}.html`).size > 5000);
  const none = await ternctl(app, ['report', 'loss', '--site', 'nowhere', '--from', '1h']);
  if (process.env.TERN_REPORT_KEEP) fs.copyFileSync(png, process.env.TERN_REPORT_KEEP);
  t.equal(none.code, 1);
  t.match(none.err, /site 'nowhere' has no paths in the config or the history; sites: home, cloud/);
});
