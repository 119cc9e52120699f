import t from 'tap';
import { anyMatches, patternProblem, topicMatches, topicProblem } from './topics.js';

t.test('topicMatches', async (t) => {
  const cases: [string, string, boolean][] = [
    ['paths.up', 'paths.up', true],
    ['paths.up', 'paths.down', false],
    ['paths.up', 'paths.up.x', false],
    ['paths.*', 'paths.up', true],
    ['paths.*', 'paths.a.b', true],
    ['paths.*', 'paths', false],
    ['paths.*', 'pathsx.up', false],
    ['paths*', 'pathsx.up', true],
    ['*', 'anything', true],
  ];
  for (const [pattern, topic, want] of cases) {
    const got = topicMatches(pattern, topic);
    t.equal(got, want, `${pattern} vs ${topic}: got ${got}; want ${want}`);
  }
  t.equal(anyMatches(['a', 'b.*'], 'b.c'), true, 'anyMatches: want b.* to cover b.c');
  t.equal(anyMatches([], 'b.c'), false, 'anyMatches: want no patterns to cover nothing');
});

t.test('topic and pattern validation', async (t) => {
  const topics: [unknown, boolean][] = [
    ['paths.up', true],
    ['wan:eth0-1_x', true],
    ['', false],
    ['a b', false],
    ['paths.*', false],
    ['rpc.ping', false],
    ['x'.repeat(201), false],
    [5, false],
  ];
  for (const [name, ok] of topics) {
    const problem = topicProblem(name);
    t.equal(problem === undefined, ok, `topic ${JSON.stringify(name)}: ${problem ?? 'valid'}; want ${ok ? 'valid' : 'a problem'}`);
  }
  const patterns: [unknown, boolean][] = [
    ['*', true],
    ['paths.*', true],
    ['paths.up', true],
    ['pa*ths', false],
    ['**', false],
    ['a b*', false],
    [null, false],
  ];
  for (const [p, ok] of patterns) {
    const problem = patternProblem(p);
    t.equal(problem === undefined, ok, `pattern ${JSON.stringify(p)}: ${problem ?? 'valid'}; want ${ok ? 'valid' : 'a problem'}`);
  }
});
