import t from 'tap';
import { wanTables } from './tables.js';

t.test('wanTables keeps set tables and gives the others the lowest free ones in WAN order', async (t) => {
  const cases: Array<[string, Array<{ name: string; table?: number }>, Record<string, number>]> = [
    ['none set', [{ name: 'a' }, { name: 'b' }], { a: 1000, b: 1001 }],
    ['one set low', [{ name: 'a' }, { name: 'b', table: 1000 }], { a: 1001, b: 1000 }],
    ['gap kept', [{ name: 'a', table: 1001 }, { name: 'b' }, { name: 'c' }], { a: 1001, b: 1000, c: 1002 }],
    ['all set', [{ name: 'a', table: 1050 }, { name: 'b', table: 1099 }], { a: 1050, b: 1099 }],
  ];
  for (const [name, wans, want] of cases) {
    const got = Object.fromEntries(wanTables({ wans }));
    t.same(got, want, `${name}: got ${JSON.stringify(got)}; want ${JSON.stringify(want)}`);
  }
});
