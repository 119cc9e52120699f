// Reading tern.yaml: YAML with node positions, then the schema (defaults
// filled in), then the semantic checks; every problem found is reported at once.
import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { Composer, LineCounter, type Document } from 'yaml';
import { errorMessage } from '../errors.js';
import { explainAjvErrors, type Anchor } from './explain.js';
import { addTernFormats } from './formats.js';
import { formatKeyPath, issuesError, type ConfigIssue, type Segment } from './issues.js';
import { Locator, aliasProblems, parseTokens, treeProblems } from './locate.js';
import { configTooBig, maxConfigBytes, readConfigText } from './read.js';
import { jsonSchema, type TernConfig } from './schema.js';
import { semanticProblems } from './semantic.js';

/** A configuration that passed every check, with what it was read from. */
export interface LoadedConfig {
  /** The configuration, every default filled in. */
  config: TernConfig;
  /** The file it came from ('<inline>' for text given directly). */
  file: string;
  /** The text as read. */
  text: string;
  /** sha256 of the text, hex: tells whether a reload changes anything. */
  hash: string;
}

let validator: ValidateFunction | undefined;

// Compiled once per process: Ajv compiles the schema to code, which is slow
// compared with validating one file.
function validate(): ValidateFunction {
  validator ??= addTernFormats(new Ajv({ allErrors: true, useDefaults: true, strict: true, verbose: true })).compile(jsonSchema());
  return validator;
}

// YAML reads .nan and .inf as numbers, which pass range checks they should fail.
function nonFinite(data: unknown, segments: Segment[] = []): Segment[][] {
  if (typeof data === 'number') return Number.isFinite(data) ? [] : [segments];
  if (Array.isArray(data)) return data.flatMap((v, i) => nonFinite(v, [...segments, i]));
  if (data !== null && typeof data === 'object') {
    return Object.entries(data).flatMap(([k, v]) => nonFinite(v, [...segments, k]));
  }
  return [];
}

/** Every collection may sit at most this deep; the schema's deepest is 5 (overlay.sites[].wans[]). */
export const maxNesting = 32;

/**
 * Parse and check configuration text. Throws one TernError listing every
 * problem: TERN_E_CONFIG_READ (over maxConfigBytes), TERN_E_CONFIG_PARSE
 * (YAML syntax, a second document, nesting, aliases), TERN_E_CONFIG_KEY
 * (duplicate, unknown or missing keys, wrong types and ranges) or
 * TERN_E_CONFIG_SEMANTIC (references, duplicates, overlaps, addresses and
 * ports that would break the box); details.errors holds them as data.
 */
export function parseConfig(text: string, file = '<inline>'): LoadedConfig {
  // Text may arrive without loadConfig (ternctl apply, a request): bound it here too.
  if (text.length > maxConfigBytes || Buffer.byteLength(text) > maxConfigBytes) throw configTooBig(file, Buffer.byteLength(text));
  const lines = new LineCounter();
  const at = (offset: number, message: string): ConfigIssue => {
    const p = lines.linePos(offset);
    return { path: '', line: p.line, column: p.col, message, code: 'TERN_E_CONFIG_PARSE' };
  };
  // Nesting is bounded before the document is composed (which recurses once per level).
  const parsed = parseTokens(text, lines, maxNesting);
  if ('tooDeep' in parsed) {
    throw issuesError('TERN_E_CONFIG_PARSE', 'parse', file, [at(parsed.tooDeep, `nested more than ${maxNesting} levels deep; tern.yaml needs at most a few`)]);
  }
  const docs: Document[] = [...new Composer({ prettyErrors: false, uniqueKeys: false, logLevel: 'silent' }).compose(parsed.tokens, true, text.length)];
  const doc = docs[0] as Document;
  const syntax = [...doc.errors, ...doc.warnings].map((e) => at(e.pos[0], e.message));
  const second = docs[1];
  if (second) {
    syntax.push(at(second.range?.[0] ?? 0, "a second YAML document starts here; tern.yaml is one document (remove the '---' line and what follows, or merge it into the first)"));
  }
  if (syntax.length === 0) syntax.push(...aliasProblems(doc).map((p) => at(p.offset, p.message)));
  if (syntax.length > 0) throw issuesError('TERN_E_CONFIG_PARSE', 'parse', file, syntax);

  const locator = new Locator(doc, lines);
  const issue = (segments: Segment[], anchor: Anchor, message: string, code: ConfigIssue['code']): ConfigIssue => {
    const at = anchor === 'key' ? locator.key(segments) : locator.value(anchor === 'parent' ? segments.slice(0, -1) : segments);
    return { path: formatKeyPath(segments), line: at.line, column: at.column, message, code };
  };

  let data: unknown;
  try {
    // aliasProblems bounded the expansion already; toJS's own count is a backstop.
    data = doc.toJS({ maxAliasCount: 10_000 });
  } catch (err) {
    throw issuesError('TERN_E_CONFIG_PARSE', 'parse', file, [{ path: '', line: 1, column: 1, message: errorMessage(err), code: 'TERN_E_CONFIG_PARSE' }]);
  }

  const keyIssues: ConfigIssue[] = treeProblems(doc, lines).map((p) => ({
    path: formatKeyPath(p.segments), line: p.position.line, column: p.position.column, message: p.message, code: 'TERN_E_CONFIG_KEY',
  }));
  if (data === null || data === undefined) {
    keyIssues.push(issue([], 'value', 'the file is empty; expected a mapping starting with version: 1', 'TERN_E_CONFIG_KEY'));
  } else {
    const infinite = nonFinite(data).map((segments) => issue(segments, 'value', `must be a finite number; got ${locator.text(segments) ?? 'infinity'}`, 'TERN_E_CONFIG_KEY'));
    keyIssues.push(...infinite);
    const check = validate();
    if (!check(data)) {
      for (const e of explainAjvErrors(check.errors ?? [], data)) {
        const path = formatKeyPath(e.segments);
        if (!infinite.some((i) => i.path === path)) keyIssues.push(issue(e.segments, e.anchor, e.message, 'TERN_E_CONFIG_KEY'));
      }
    }
  }
  if (keyIssues.length > 0) throw issuesError('TERN_E_CONFIG_KEY', 'check', file, keyIssues);

  const config = data as TernConfig;
  const semantic = semanticProblems(config, (segments) => locator.value(segments).line)
    .map((p) => issue(p.segments, p.anchor, p.message, 'TERN_E_CONFIG_SEMANTIC'));
  if (semantic.length > 0) throw issuesError('TERN_E_CONFIG_SEMANTIC', 'check', file, semantic);

  return { config, file, text, hash: createHash('sha256').update(text).digest('hex') };
}

/**
 * Read and check a config file. A file that cannot be read, is not a regular
 * file or is over maxConfigBytes is TERN_E_CONFIG_READ, refused before any
 * of it is read (readConfigText).
 */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  return parseConfig(readConfigText(file), file);
}
