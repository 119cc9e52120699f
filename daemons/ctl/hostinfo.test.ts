import t from 'tap';
import os from 'node:os';
import { hostFacts } from './hostinfo.js';

t.test('host facts: a systeminformation answer that comes too late leaves the basics from Node, and says what is missing', async (t) => {
  const f = await hostFacts(0);
  t.equal(f.hostname, os.hostname());
  t.equal(f.kernel, os.release());
  t.equal(f.arch, os.arch());
  t.ok(typeof f.memTotalBytes === 'number' && f.memTotalBytes > 0, `memory total: got ${f.memTotalBytes}`);
  t.ok(typeof f.cores === 'number' && f.cores > 0, `cores: got ${f.cores}`);
  t.match(f.missing, { os: /no answer within 0 ms/ }, 'the late fact is named');
});

t.test('host facts: with time to answer, systeminformation fills them in', async (t) => {
  const f = await hostFacts(20_000);
  t.same(f.missing, {}, `missing: ${JSON.stringify(f.missing)}`);
  t.ok(f.os && f.os.length > 0, `os: got ${f.os}`);
  t.ok(typeof f.load === 'number' && f.load >= 0 && f.load <= 100, `load: got ${f.load}`);
});
