// A Rust panic must reach JS as an Error with code TERN_E_NATIVE_PANIC, never
// abort Node, and leave the module usable for the next call.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { loadNative } from './index.js';

const loaderUrl = new URL('./index.js', import.meta.url).href;

/** Runs an ES module snippet in a fresh node with the loader imported as `native`. */
function runChild(body: string) {
  const script = `import { loadNative } from ${JSON.stringify(loaderUrl)};\nconst native = loadNative();\n${body}\n`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
}

t.test('debugPanic throws TERN_E_NATIVE_PANIC, many times, and the module keeps working', async (t) => {
  const native = loadNative();
  const rounds = 1000;
  let wrong = 0;
  for (let i = 0; i < rounds; i++) {
    const text = `boom ${i}`;
    try {
      native.debugPanic(text);
      t.fail(`round ${i}: debugPanic returned; want a throw`);
      return;
    } catch (err) {
      const e = err as Error & { code?: unknown };
      const ok = e instanceof Error && e.code === 'TERN_E_NATIVE_PANIC' && e.message.startsWith(`native: debugPanic: panic: ${text}`);
      if (!ok) {
        wrong++;
        if (wrong === 1) t.fail(`round ${i}: got ${String(e)} (code ${String(e.code)}); want Error TERN_E_NATIVE_PANIC "native: debugPanic: panic: ${text}..."`);
      }
    }
    // A call that does not panic after every panic: the boundary must not
    // leave a half-finished state behind.
    const v = native.version();
    if (typeof v !== 'string' || v === '') {
      t.fail(`round ${i}: version() after a panic: got ${String(v)}; want the crate version`);
      return;
    }
  }
  t.equal(wrong, 0, `panics not turned into the expected error: got ${wrong}; want 0 of ${rounds}`);
});

t.test('a caught panic prints nothing and the process exits normally', async (t) => {
  const r = runChild(`
try { native.debugPanic('boom'); } catch (err) { console.log(err.code); }
console.log(native.version());`);
  t.equal(r.status, 0, `exit status: got ${r.status} (signal ${r.signal}); want 0`);
  t.equal(r.stderr, '', `stderr: got ${JSON.stringify(r.stderr)}; want nothing (the panic hook stays quiet for caught panics)`);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines[0], 'TERN_E_NATIVE_PANIC', `child error code: got ${lines[0]}; want TERN_E_NATIVE_PANIC`);
  t.match(lines[1] ?? '', /^\d+\.\d+\.\d+/, `child version() after the panic: got ${lines[1]}; want a version`);
});

t.test('an uncaught panic is an ordinary uncaught JS exception, not an abort', async (t) => {
  const r = runChild(`native.debugPanic('boom');`);
  t.equal(r.signal, null, `signal: got ${r.signal}; want none (SIGABRT would mean the panic crossed into Node)`);
  t.equal(r.status, 1, `exit status: got ${r.status}; want 1 (uncaught exception)`);
  t.ok(r.stderr.includes('TERN_E_NATIVE_PANIC') && r.stderr.includes('native: debugPanic: panic: boom'),
    `stderr: got ${JSON.stringify(r.stderr)}; want the thrown Error with code TERN_E_NATIVE_PANIC`);
});
