// Reads the raw TAP of one or more `tap -R tap` runs and prints the suite's
// closing line: `N passed, N failed` (and skipped/todo when present). A test
// is a direct child of a test file (a t.test block or a top-level assertion);
// a file that fails without a failing child (crash, timeout) counts one more
// failure, so nothing can fail silently.
import fs from 'node:fs';
import { Parser, type Result } from 'tap-parser';

interface Counts { passed: number; failed: number; skipped: number; failures: string[] }

export function summarize(tap: string): Counts {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const root = new Parser();
  root.on('child', (file: Parser) => {
    let childFailed = false;
    file.on('assert', (r: Result) => {
      if (r.skip || r.todo) counts.skipped++;
      else if (r.ok) counts.passed++;
      else { counts.failed++; childFailed = true; counts.failures.push(`${file.name}: ${r.name}`); }
    });
    root.on('assert', (r: Result) => {
      if (r.name !== file.name || r.ok || childFailed) return;
      counts.failed++;
      counts.failures.push(`${file.name}: the file itself failed (crash, timeout or plan mismatch)`);
    });
  });
  root.end(tap);
  return counts;
}

/** Counts from `cargo test` output: its `test result:` lines and our own failure marks. */
export function summarizeCargo(text: string): Counts {
  const counts: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const m of text.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/gm)) {
    counts.passed += Number(m[1]);
    counts.failed += Number(m[2]);
    counts.skipped += Number(m[3]);
  }
  for (const m of text.matchAll(/^test (\S+) \.\.\. FAILED$/gm)) counts.failures.push(`cargo: ${m[1]}`);
  for (const m of text.matchAll(/^cargo test failed: (.*)$/gm)) {
    // A crate that did not build reports no result line: count it once.
    if (counts.failures.length === 0) counts.failed++;
    counts.failures.push(`cargo: ${m[1]} (build or run failed)`);
  }
  return counts;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  const args = process.argv.slice(2);
  const totals: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const add = (c: Counts): void => {
    totals.passed += c.passed; totals.failed += c.failed; totals.skipped += c.skipped; totals.failures.push(...c.failures);
  };
  for (let i = 0; i < args.length; i++) {
    const f = args[i]!;
    if (f === '--cargo') {
      const file = args[++i]!;
      add(summarizeCargo(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''));
      continue;
    }
    const text = fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    const c = summarize(text);
    if (!text.trim()) { c.failed++; c.failures.push(`${f}: no TAP output (the run did not start)`); }
    add(c);
  }
  for (const f of totals.failures) console.log(`FAILED: ${f}`);
  console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
  process.exitCode = totals.failed > 0 ? 1 : 0;
}
