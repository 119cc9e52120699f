import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { patternExpected, stringFormats } from './formats.js';
import { loadConfig } from './load.js';
import { jsonSchema, jsonSchemaText } from './schema.js';

// Tests run from dist/daemons/lib/config/, four levels below the repository root.
const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const docs = path.join(repo, 'docs');

type Node = Record<string, unknown>;

/** Every schema object in the tree with its JSON pointer. */
function schemas(node: unknown, at = '#'): Array<[string, Node]> {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return [];
  const n = node as Node;
  const out: Array<[string, Node]> = [[at, n]];
  for (const [k, v] of Object.entries((n.properties ?? {}) as Node)) out.push(...schemas(v, `${at}/properties/${k}`));
  for (const [k, v] of Object.entries((n.patternProperties ?? {}) as Node)) out.push(...schemas(v, `${at}/patternProperties/${k}`));
  if (n.items) out.push(...schemas(n.items, `${at}/items`));
  if (Array.isArray(n.anyOf)) n.anyOf.forEach((v, i) => out.push(...schemas(v, `${at}/anyOf/${i}`)));
  return out;
}

t.test('docs/tern.schema.json is what the code generates', async (t) => {
  const file = path.join(docs, 'tern.schema.json');
  const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(missing)';
  t.ok(committed === jsonSchemaText(),
    'got a docs/tern.schema.json that differs from the schema in code; want them equal. Regenerate it: npx tsc -p . && node dist/daemons/lib/config/export-schema.js');
});

t.test('every object in the schema is closed, and keys with defaults are optional', async (t) => {
  const all = schemas(jsonSchema());
  t.ok(all.length > 100, `got ${all.length} schema nodes; want the whole tree walked`);
  for (const [at, s] of all) {
    if (s.type !== 'object') continue;
    t.equal(s.additionalProperties, false, `${at}: got additionalProperties ${JSON.stringify(s.additionalProperties)}; want false`);
    const props = (s.properties ?? {}) as Record<string, Node>;
    for (const key of (s.required ?? []) as string[]) {
      t.notOk('default' in (props[key] ?? {}), `${at}: got required key ${key} with a default; want it optional`);
    }
  }
});

t.test('every pattern and format has words for its errors, every key a description', async (t) => {
  for (const [at, s] of schemas(jsonSchema())) {
    if (typeof s.pattern === 'string') t.ok(s.pattern in patternExpected, `${at}: got pattern ${s.pattern} without words; want an entry in patternExpected`);
    if (typeof s.format === 'string') t.ok(s.format in stringFormats, `${at}: got format ${s.format} unknown; want one of stringFormats`);
    // Editors show the description on hover; every key should have one.
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Node>)) {
      t.ok(typeof v.description === 'string' && v.description.length > 0, `${at}/properties/${k}: got no description; want one`);
    }
  }
});

t.test('docs/config.md documents every key', async (t) => {
  const doc = fs.readFileSync(path.join(docs, 'config.md'), 'utf8');
  const keys = new Set<string>();
  for (const [, s] of schemas(jsonSchema())) for (const k of Object.keys((s.properties ?? {}) as Node)) keys.add(k);
  for (const k of keys) t.ok(doc.includes(`\`${k}\``), `got no \`${k}\` in docs/config.md; want every key documented`);
});

t.test('every file in docs/examples loads', async (t) => {
  const dir = path.join(docs, 'examples');
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  t.ok(files.includes('tern.yaml'), `got examples ${files.join(', ')}; want tern.yaml among them`);
  for (const f of files) {
    try {
      await loadConfig(path.join(dir, f));
      t.pass(`${f} loads`);
    } catch (err) {
      t.fail(`${f}: got ${(err as Error).message}; want it to load`);
    }
  }
});

t.test('the office example has the sections the lab builds on', async (t) => {
  const { config } = await loadConfig(path.join(docs, 'examples', 'tern.yaml'));
  t.equal(config.wans.length, 1, `wans: got ${config.wans.length}; want 1 (a PAIR member)`);
  t.equal(config.pair?.enabled, true, `pair.enabled: got ${config.pair?.enabled}; want true`);
  t.same(config.overlay.sites.map((s) => s.id), ['home', 'cloud'], 'overlay.sites: want home and cloud');
  t.ok(config.remoteUsers.length >= 1, 'remoteUsers: want at least one');
  t.same(config.appClasses.map((a) => a.name), ['voice', 'interactive', 'bulk'], 'appClasses: want voice, interactive, bulk');
  t.equal(config.qos.enabled, true, 'qos.enabled: want true');
  t.ok(config.policies.length >= 3, 'policies: want one per app class');
});
