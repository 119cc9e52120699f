import t from 'tap';
import { diffLines, hunks, unifiedDiff } from './diff.js';

t.test('line diff', async (t) => {
  const a = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n';
  const b = 'a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk\n';
  const lines = diffLines(a, b);
  t.same(lines.filter((l) => l.op !== ' ').map((l) => `${l.op}${l.text}`), ['-c', '+C', '+k']);
  const hs = hunks(lines, 1);
  t.equal(hs.length, 2, 'far apart changes make two hunks');
  t.same([hs[0]!.oldStart, hs[0]!.oldLines, hs[0]!.newStart, hs[0]!.newLines], [2, 3, 2, 3]);
  t.equal(unifiedDiff(a, a, { from: 'x', to: 'y' }), '', 'equal texts: no diff');
  const u = unifiedDiff('', 'x\ny\n', { from: 'old', to: 'new' });
  t.match(u, /^--- old\n\+\+\+ new\n@@ -0,0 \+1,2 @@\n\+x\n\+y$/, `got ${JSON.stringify(u)}`);
});
