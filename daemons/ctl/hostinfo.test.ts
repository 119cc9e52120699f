import t from 'tap';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { hostFacts, osRelease } from './hostinfo.js';

t.test('host facts: a systeminformation answer that comes too late leaves the basics from Node, and says what is missing', async (t) => {
  const f = await hostFacts(0);
  t.equal(f.hostname, os.hostname());
  t.equal(f.kernel, os.release());
  t.equal(f.arch, os.arch());
  t.ok(typeof f.memTotalBytes === 'number' && f.memTotalBytes > 0, `memory total: got ${f.memTotalBytes}`);
  t.ok(typeof f.cores === 'number' && f.cores > 0, `cores: got ${f.cores}`);
  t.match(f.missing, { os: /no answer within 0 ms/ }, 'the late fact is named');
  t.equal(f.os, osRelease(), 'the system name comes from os-release instead');
  if (fs.existsSync('/etc/os-release')) t.ok(f.os, `os: got ${f.os}`);
});

t.test('os-release: PRETTY_NAME, quoted or not; unreadable or nameless files give way to the next', async (t) => {
  const dir = t.testdir({
    quoted: 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n',
    bare: 'PRETTY_NAME=Tern\n',
    none: 'NAME=x\n',
    empty: 'PRETTY_NAME=""\n',
    control: 'PRETTY_NAME="a\x1b[2Jb"\n',
  });
  const f = (n: string): string => path.join(dir, n);
  t.equal(osRelease([f('quoted')]), 'Debian GNU/Linux 13 (trixie)');
  t.equal(osRelease([f('bare')]), 'Tern');
  t.equal(osRelease([f('missing'), f('none'), f('empty'), f('bare')]), 'Tern');
  t.equal(osRelease([f('control')]), 'a[2Jb', 'control characters are dropped');
  t.equal(osRelease([f('missing'), f('none')]), null);
});

t.test('host facts: with time to answer, systeminformation fills them in', async (t) => {
  const f = await hostFacts(20_000);
  t.same(f.missing, {}, `missing: ${JSON.stringify(f.missing)}`);
  t.ok(f.os && f.os.length > 0, `os: got ${f.os}`);
  t.ok(typeof f.load === 'number' && f.load >= 0 && f.load <= 100, `load: got ${f.load}`);
});
