// Line diff of two config texts, in unified format, for `config diff`.

export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
  /** Line number in the old text (for ' ' and '-'). */
  oldLine?: number;
  /** Line number in the new text (for ' ' and '+'). */
  newLine?: number;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: DiffLine[];
}

const split = (t: string): string[] => (t === '' ? [] : t.replace(/\n$/, '').split('\n'));

/**
 * Every line of a and b as kept, removed or added: the longest common
 * subsequence, O(n·m), fine for config files of a few thousand lines.
 */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = split(a);
  const y = split(b);
  const n = x.length;
  const m = y.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      out.push({ op: ' ', text: x[i]!, oldLine: i + 1, newLine: j + 1 });
      i++; j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals before additions, as diff -u prints them.
      out.push({ op: '-', text: x[i]!, oldLine: i + 1 });
      i++;
    } else {
      out.push({ op: '+', text: y[j]!, newLine: j + 1 });
      j++;
    }
  }
  return out;
}

/** The changes grouped into hunks with context lines around them. */
export function hunks(lines: DiffLine[], context = 3): Hunk[] {
  const changed = lines.map((l, k) => (l.op !== ' ' ? k : -1)).filter((k) => k >= 0);
  const out: Hunk[] = [];
  let k = 0;
  while (k < changed.length) {
    const start = Math.max(0, changed[k]! - context);
    let end = Math.min(lines.length, changed[k]! + context + 1);
    while (k + 1 < changed.length && changed[k + 1]! - context <= end) {
      k++;
      end = Math.min(lines.length, changed[k]! + context + 1);
    }
    k++;
    const slice = lines.slice(start, end);
    const firstOld = slice.find((l) => l.oldLine !== undefined)?.oldLine ?? (lines.slice(0, start).reverse().find((l) => l.oldLine !== undefined)?.oldLine ?? 0) + 1;
    const firstNew = slice.find((l) => l.newLine !== undefined)?.newLine ?? (lines.slice(0, start).reverse().find((l) => l.newLine !== undefined)?.newLine ?? 0) + 1;
    const oldLines = slice.filter((l) => l.op !== '+').length;
    const newLines = slice.filter((l) => l.op !== '-').length;
    out.push({ oldStart: oldLines === 0 ? firstOld - 1 : firstOld, oldLines, newStart: newLines === 0 ? firstNew - 1 : firstNew, newLines, lines: slice });
  }
  return out;
}

/** Unified diff text (`diff -u` style). Empty when the texts are equal. */
export function unifiedDiff(a: string, b: string, labels: { from: string; to: string }, paint: (l: DiffLine, text: string) => string = (_l, t) => t): string {
  const hs = hunks(diffLines(a, b));
  if (hs.length === 0) return '';
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  for (const h of hs) {
    out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`);
    for (const l of h.lines) out.push(paint(l, `${l.op}${l.text}`));
  }
  return out.join('\n');
}
