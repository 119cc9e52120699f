import t from 'tap';
import { checkFileName, fileIn, pidPath, socketPath } from './index.js';

// Issue #15: a name from outside (CLI, config, bus, a file) never becomes a path unchecked.
t.test('checkFileName: plain lowercase words only', async (t) => {
  for (const good of ['alice', 'tunneld', 'a', '0', 'jane-doe', 'x_1', 'a'.repeat(32)]) t.equal(checkFileName(good, 'user name'), good);
  const bad: unknown[] = ['', '.', '..', '../x', 'a/b', '/etc/passwd', 'Alice', '-x', '_x', 'a b', 'a.key', 'a'.repeat(33), 'é', 'a\n', 'a\0b', 42, null, undefined];
  for (const name of bad) {
    t.throws(() => checkFileName(name, 'user name'), { code: 'TERN_E_PATHS_NAME', message: /^paths: user name: got .*; want lowercase letters/ }, `checkFileName(${JSON.stringify(name)}): want TERN_E_PATHS_NAME`);
  }
});

t.test('fileIn: the file lies directly in its directory', async (t) => {
  t.equal(fileIn('/var/lib/tern/keys/users', 'alice', '.key', 'user'), '/var/lib/tern/keys/users/alice.key');
  t.equal(fileIn('/run/tern/', 'probed', '.sock', 'daemon'), '/run/tern/probed.sock');
  // A suffix that would climb out is refused too, though only code gives suffixes.
  t.throws(() => fileIn('/run/tern', 'x', '/../../etc/passwd', 'daemon'), { code: 'TERN_E_PATHS_NAME', message: /would leave \/run\/tern/ });
  t.throws(() => fileIn('/run/tern', '..', '', 'daemon'), { code: 'TERN_E_PATHS_NAME' });
  t.equal(socketPath({ runDir: '/run/tern' }, 'tunneld'), '/run/tern/tunneld.sock');
  t.equal(pidPath({ runDir: '/run/tern' }, 'tunneld'), '/run/tern/tunneld.pid');
  t.throws(() => socketPath({ runDir: '/run/tern' }, '../tmp/evil'), { code: 'TERN_E_PATHS_NAME' });
});
