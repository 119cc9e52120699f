// Config problems as people read them: one issue per problem, with the key
// path in the file's own notation and the line, gathered into one TernError.
import { TernError, type ErrorCode } from '../errors.js';

/** A step of a key path: a mapping key or a list index. */
export type Segment = string | number;

/** One problem found in a config file. */
export interface ConfigIssue {
  /** Key path as written by people: `wans[1].upMbps`; '' for the whole file. */
  path: string;
  /** 1-based line of the offending key or value (for a missing key: its parent's). */
  line: number;
  /** 1-based column on that line. */
  column: number;
  /** What is wrong and what was expected. */
  message: string;
  code: ErrorCode;
}

/** More lines than this in an error message are summarised; details.errors keeps them all. */
export const maxListedIssues = 50;

/** `['wans', 1, 'upMbps']` → `wans[1].upMbps`; keys that are not plain names are quoted. */
export function formatKeyPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** One line of an error message: `tern.yaml:12: wans[1].upMbps: must be ...`. */
export function formatIssue(file: string, issue: ConfigIssue, withColumn = false): string {
  const where = withColumn ? `${file}:${issue.line}:${issue.column}` : `${file}:${issue.line}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Sort issues by place in the file, drop exact repeats (one problem seen by two checks). */
export function tidyIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const id = `${issue.path}\u0000${issue.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(issue);
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * The one error for a file's problems: the message lists them one per line
 * (`file:line: path: message`), details.errors holds them as data.
 */
export function issuesError(code: ErrorCode, action: string, file: string, found: readonly ConfigIssue[]): TernError {
  const issues = tidyIssues(found);
  const withColumn = code === 'TERN_E_CONFIG_PARSE';
  const noun = code === 'TERN_E_CONFIG_PARSE' ? 'YAML error' : 'error';
  const head = `config: ${action} ${file}: ${issues.length} ${noun}${issues.length === 1 ? '' : 's'}`;
  const lines = issues.slice(0, maxListedIssues).map((i) => formatIssue(file, i, withColumn));
  if (issues.length > maxListedIssues) lines.push(`... and ${issues.length - maxListedIssues} more`);
  return new TernError(code, [head, ...lines].join('\n'), { details: { file, errors: issues } });
}
