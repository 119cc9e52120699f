// Arguments of the wrong type are a TERN_E_NATIVE_ARG error naming the
// function, the argument and the expected type.
import t from 'tap';
import { loadNative } from './index.js';

t.test('wrong argument types throw TERN_E_NATIVE_ARG', async (t) => {
  // Untyped on purpose: these calls are what index.d.ts forbids.
  const native = loadNative() as unknown as Record<string, (...args: unknown[]) => unknown>;
  const cases = [
    { fn: 'sdNotify', args: [42], want: 'native: sdNotify: argument state: expected a string; got number' },
    { fn: 'sdNotify', args: [], want: 'native: sdNotify: argument state: expected a string; got undefined' },
    { fn: 'sdNotify', args: [null], want: 'native: sdNotify: argument state: expected a string; got null' },
    { fn: 'sdNotify', args: [{ toString: () => 'READY=1' }], want: 'native: sdNotify: argument state: expected a string; got object' },
    { fn: 'debugPanic', args: [Symbol('x')], want: 'native: debugPanic: argument message: expected a string; got symbol' },
  ];
  for (const c of cases) {
    const call = `${c.fn}(${c.args.map((a) => String(a)).join(', ')})`;
    try {
      native[c.fn]!(...c.args);
      t.fail(`${call}: got a return; want TERN_E_NATIVE_ARG`);
    } catch (err) {
      const e = err as Error & { code?: unknown };
      t.equal(e.code, 'TERN_E_NATIVE_ARG', `${call} code: got ${String(e.code)}; want TERN_E_NATIVE_ARG`);
      t.equal(e.message, c.want, `${call} message: got ${e.message}; want ${c.want}`);
    }
  }
});
