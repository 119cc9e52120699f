// The bus catalogue in docs/bus.md, generated from the contracts: every
// socket's methods and topics, then the message types they name.
import { Kind, OptionalKind, type TSchema } from '@sinclair/typebox';
import { namedSchemas, typeText, type Contract } from './contract.js';
import { allContracts } from './index.js';

/** The markers in docs/bus.md between which the catalogue lives (generated; not edited by hand). */
export const catalogueBegin = '<!-- bus catalogue: begin -->';
export const catalogueEnd = '<!-- bus catalogue: end -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string): string => `\`${cell(s)}\``;

function description(s: TSchema): string {
  return typeof (s as { description?: unknown }).description === 'string' ? (s as { description: string }).description : '';
}

function contractSection(c: Contract): string[] {
  const where = c.daemon === 'runner' ? 'every daemon\'s socket' : `\`${c.daemon}.sock\``;
  const out = [`### ${c.daemon} (${where})`, '', c.summary, ''];
  const methods = Object.values(c.methods);
  if (methods.length) {
    out.push('| method | params | result | what |', '|---|---|---|---|');
    for (const m of methods) out.push(`| ${code(m.name)} | ${m.params ? code(typeText(m.params.schema, 1)) : 'none'} | ${code(typeText(m.result.schema, 1))} | ${cell(m.summary)} |`);
    out.push('');
  }
  const topics = Object.values(c.topics);
  if (topics.length) {
    out.push('| topic | payload | when |', '|---|---|---|');
    for (const t of topics) out.push(`| ${code(t.name)} | ${code(typeText(t.payload.schema, 1))} | ${cell(t.when)} |`);
    out.push('');
  }
  return out;
}

function typeSection(name: string, s: TSchema): string[] {
  const o = s as TSchema & Record<string, unknown>;
  const out = [`#### ${name}`, ''];
  const about = description(s);
  if (o[Kind] !== 'Object') {
    out.push(`${code(typeText(s))}${about ? `: ${about}` : ''}`, '');
    return out;
  }
  if (about) out.push(`${about[0]!.toUpperCase()}${about.slice(1)}.`, '');
  out.push('| field | type | meaning |', '|---|---|---|');
  for (const [k, v] of Object.entries(o.properties as Record<string, TSchema>)) {
    const optional = v[OptionalKind] === 'Optional' ? ' (optional)' : '';
    const titled = typeof (v as { title?: unknown }).title === 'string';
    out.push(`| ${code(k)} | ${code(typeText(v, 1))}${optional} | ${titled ? '' : cell(description(v))} |`);
  }
  out.push('');
  return out;
}

/** The catalogue's markdown, markers included. */
export function catalogueText(contracts: Contract[] = allContracts): string {
  const out = [
    catalogueBegin,
    '',
    'Declared in `daemons/lib/api/<daemon>.ts`; each socket serves the runner\'s methods and its daemon\'s.',
    'Params are closed objects (an unknown key is refused); results and payloads list the fields every',
    'producer sends, and may carry more. `none`: no params; `any`: not declared further; `?`: optional.',
    '',
  ];
  for (const c of contracts) out.push(...contractSection(c));
  const named = new Map<string, TSchema>();
  for (const c of contracts) {
    for (const m of Object.values(c.methods)) {
      if (m.params) namedSchemas(m.params.schema, named, 1);
      namedSchemas(m.result.schema, named, 1);
    }
    for (const t of Object.values(c.topics)) namedSchemas(t.payload.schema, named, 1);
  }
  out.push('### Message types', '');
  for (const [name, s] of named) out.push(...typeSection(name, s));
  out.push(catalogueEnd);
  return `${out.join('\n')}\n`;
}

/** doc with the part between the markers replaced by catalogue; throws when the markers are missing. */
export function withCatalogue(doc: string, catalogue: string = catalogueText()): string {
  const a = doc.indexOf(catalogueBegin);
  const b = doc.indexOf(catalogueEnd);
  if (a === -1 || b === -1 || b < a) throw new Error(`api: catalogue: docs/bus.md has no "${catalogueBegin}" ... "${catalogueEnd}" markers in that order`);
  return doc.slice(0, a) + catalogue + doc.slice(b + catalogueEnd.length + (doc[b + catalogueEnd.length] === '\n' ? 1 : 0));
}
