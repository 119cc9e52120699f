// Reading tern.yaml: YAML with node positions, then the schema (defaults
// filled in), then the semantic checks; every problem found is reported at once.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Ajv, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import { TernError, errorMessage } from '../errors.js';
import { explainAjvErrors, type Anchor } from './explain.js';
import { addTernFormats } from './formats.js';
import { formatKeyPath, issuesError, type ConfigIssue, type Segment } from './issues.js';
import { Locator, treeProblems } from './locate.js';
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

/**
 * Parse and check configuration text. Throws one TernError listing every
 * problem: TERN_E_CONFIG_PARSE (YAML syntax), TERN_E_CONFIG_KEY (duplicate,
 * unknown or missing keys, wrong types and ranges) or TERN_E_CONFIG_SEMANTIC
 * (references, duplicates, overlaps); details.errors holds them as data.
 */
export function parseConfig(text: string, file = '<inline>'): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, logLevel: 'silent' });
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    throw issuesError('TERN_E_CONFIG_PARSE', 'parse', file, syntax.map((e): ConfigIssue => {
      const p = lines.linePos(e.pos[0]);
      return { path: '', line: p.line, column: p.col, message: e.message, code: 'TERN_E_CONFIG_PARSE' };
    }));
  }

  const locator = new Locator(doc, lines);
  const issue = (segments: Segment[], anchor: Anchor, message: string, code: ConfigIssue['code']): ConfigIssue => {
    const at = anchor === 'key' ? locator.key(segments) : locator.value(anchor === 'parent' ? segments.slice(0, -1) : segments);
    return { path: formatKeyPath(segments), line: at.line, column: at.column, message, code };
  };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // toJS refuses alias bombs (exponential expansion through nested aliases).
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

/** Read and check a config file; a file that cannot be read is TERN_E_CONFIG_READ. */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : errorMessage(err);
    throw new TernError('TERN_E_CONFIG_READ', `config: read ${file}: ${why}; expected the appliance configuration (tern.yaml) there`, {
      cause: err, details: { file, errno: code },
    });
  }
  return parseConfig(text, file);
}
