// Config benchmark (issue 15): how long parseConfig takes to refuse hostile
// files of the size limit (1 MiB), against a baseline measured in the same
// run: parsing the example office config. Also yaml's own parseDocument on
// deep brackets, the path the loader took before nesting was bounded. It
// reports; it never fails on time.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { parseConfig } from '../../daemons/lib/config/index.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const example = fs.readFileSync(path.join(repo, 'docs', 'examples', 'tern.yaml'), 'utf8');
const MiB = 1024 * 1024;

/** Median ms of runs of fn (which may throw: refusing is the point). */
function time(fn: () => void, runs: number): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    try { fn(); } catch { /* refused, as expected */ }
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)] as number;
}

function fill(head: string, unit: string, tail = ''): string {
  const n = Math.floor((MiB - head.length - tail.length - 64) / unit.length);
  return head + unit.repeat(n) + tail;
}

const half = (s: string): number => Math.floor((MiB - 64) / 2 / s.length);
const hostile: Array<[string, string]> = [
  ['flow brackets [[[[...]]]] (1 MiB)', `version: 1\nwans: ${'['.repeat(half('['))}${']'.repeat(half('['))}\n`],
  ['compact block sequences - - - ... (1 MiB)', fill('version: 1\nwans:\n', '- ', 'x\n')],
  ['indentation nesting, as deep as 1 MiB allows', (() => {
    const lines = ['version: 1', 'x:'];
    let size = 20;
    for (let d = 1; ; d++) { const l = `${' '.repeat(d)}a:`; if (size + l.length + 1 > MiB - 64) break; lines.push(l); size += l.length + 1; }
    return `${lines.join('\n')}\n`;
  })()],
  ['1000 aliases of a 100-item list', `version: 1\nx: &x [${Array(100).fill('a').join(', ')}]\ny: [${Array(1000).fill('*x').join(', ')}]\n`],
  ['alias bomb (10 levels of 10)', `${Array.from({ length: 10 }, (_, i) => (i === 0 ? 'b0: &b0 [x, x, x, x, x, x, x, x, x, x]' : `b${i}: &b${i} [${Array(10).fill(`*b${i - 1}`).join(', ')}]`)).join('\n')}\n`],
  ['probe targets up to 1 MiB (schema bound: 16)', (() => {
    const head = `${example}probes:\n  wanTargets: [`;
    const targets: string[] = [];
    for (let i = 0, size = head.length + 2; size + 16 < MiB; i++) {
      const t = `203.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      targets.push(t);
      size += t.length + 2;
    }
    return `${head}${targets.join(', ')}]\n`;
  })()],
];

const baseline = time(() => parseConfig(example), 20);
console.log(`${'baseline: parseConfig(docs/examples/tern.yaml)'.padEnd(52)} ${baseline.toFixed(1).padStart(8)} ms`);
for (const [name, text] of hostile) {
  const ms = time(() => parseConfig(text), 3);
  console.log(`${`refuse ${name}`.padEnd(52)} ${ms.toFixed(1).padStart(8)} ms  ${(ms / baseline).toFixed(1).padStart(7)}x baseline`);
}
// The path before the fix, on a tenth of the brackets (the whole file took over 10 s).
const deep = `version: 1\nwans: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`;
const old = time(() => parseDocument(deep), 1);
console.log(`${'yaml parseDocument, 50 000 brackets (old path)'.padEnd(52)} ${old.toFixed(1).padStart(8)} ms  ${(old / baseline).toFixed(1).padStart(7)}x baseline`);
const now = time(() => parseConfig(deep), 3);
console.log(`${'parseConfig, the same 50 000 brackets'.padEnd(52)} ${now.toFixed(1).padStart(8)} ms  ${(now / baseline).toFixed(1).padStart(7)}x baseline`);
