// docs/bus.md's catalogue is generated from the contracts: this test fails
// when someone changes a contract and not the doc, or edits the doc by hand.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogueBegin, catalogueEnd, catalogueText, withCatalogue } from './catalogue.js';
import { allContracts } from './index.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const busDoc = path.join(repo, 'docs/bus.md');

t.test('docs/bus.md holds the catalogue the contracts generate', async (t) => {
  const doc = fs.readFileSync(busDoc, 'utf8');
  const a = doc.indexOf(catalogueBegin);
  const b = doc.indexOf(catalogueEnd);
  t.ok(a !== -1 && b > a, `got markers at ${a} and ${b}; want "${catalogueBegin}" before "${catalogueEnd}"`);
  const committed = doc.slice(a, b + catalogueEnd.length + 1);
  const want = catalogueText();
  if (committed !== want) {
    const got = committed.split('\n');
    const exp = want.split('\n');
    const line = got.findIndex((l, i) => l !== exp[i]);
    t.fail(`got a docs/bus.md catalogue that differs from the contracts at its line ${line + 1}: got ${JSON.stringify(got[line])}; want ${JSON.stringify(exp[line])}. `
      + 'Regenerate it: npx tsc -p . && node dist/daemons/lib/api/export-catalogue.js');
  } else {
    t.pass('docs/bus.md catalogue is up to date');
  }
});

t.test('withCatalogue replaces only what lies between the markers', async (t) => {
  const doc = `# x\n\nbefore\n\n${catalogueBegin}\nstale\n${catalogueEnd}\n\nafter\n`;
  const out = withCatalogue(doc, `${catalogueBegin}\nnew\n${catalogueEnd}\n`);
  t.equal(out, `# x\n\nbefore\n\n${catalogueBegin}\nnew\n${catalogueEnd}\n\nafter\n`);
  t.throws(() => withCatalogue('# no markers\n'), /no .* markers/, 'a doc without markers is refused, not appended to');
});

t.test('the catalogue lists every method and topic of every contract', async (t) => {
  const text = catalogueText();
  for (const c of allContracts) {
    for (const name of [...Object.keys(c.methods), ...Object.keys(c.topics)]) {
      t.ok(text.includes(`| \`${name}\` |`), `got no row for ${c.daemon} ${name}; want one`);
    }
  }
});
