// Where a key path sits in the YAML text, from the parsed document's node
// ranges; and the problems of the YAML tree itself (duplicate or non-name
// keys, nesting, aliases).
import { Lexer, Parser, isAlias, isCollection, isMap, isNode, isScalar, isSeq, type CST, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { Segment } from './issues.js';

/** A 1-based line and column. */
export interface Position {
  line: number;
  column: number;
}

interface Step {
  /** The node the step reached, or undefined when the value is empty. */
  node: Node | undefined;
  /** The key node when the step went through a mapping key. */
  key: Node | undefined;
}

const start: Position = { line: 1, column: 1 };

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return '';
  return undefined;
}

/** Positions of key paths in one parsed document. */
export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  private at(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  private resolve(node: unknown): Node | undefined {
    if (isAlias(node)) return this.resolve(node.resolve(this.doc));
    return (node ?? undefined) as Node | undefined;
  }

  /** The steps along segments that exist in the document (fewer when the path leaves it). */
  private walk(segments: readonly Segment[]): Step[] {
    const steps: Step[] = [{ node: this.resolve(this.doc.contents), key: undefined }];
    for (const seg of segments) {
      const parent = steps[steps.length - 1]?.node;
      let next: Step | undefined;
      if (isMap(parent)) {
        // The last pair with this key is the one toJS kept, so errors point at it.
        const pair = [...parent.items].reverse().find((p) => keyText(p.key) === String(seg)) as Pair<Node, Node> | undefined;
        if (pair) next = { node: this.resolve(pair.value), key: pair.key ?? undefined };
      } else if (isSeq(parent) && typeof seg === 'number' && seg < parent.items.length) {
        next = { node: this.resolve(parent.items[seg]), key: undefined };
      }
      if (!next) break;
      steps.push(next);
    }
    return steps;
  }

  private stepPosition(step: Step): Position | undefined {
    const { node, key } = step;
    // A collection under a key is introduced by its key line (`wans:`).
    if (key?.range && (!node || isCollection(node))) return this.at(key.range[0]);
    // An empty value (`upMbps:`) is best shown at its key.
    if (key?.range && isScalar(node) && node.value === null && node.source === '') return this.at(key.range[0]);
    if (node?.range) return this.at(node.range[0]);
    if (key?.range) return this.at(key.range[0]);
    return undefined;
  }

  /** Where the value at segments is written; the nearest written ancestor when it is not. */
  value(segments: readonly Segment[]): Position {
    const steps = this.walk(segments);
    for (let i = steps.length - 1; i >= 0; i--) {
      const p = this.stepPosition(steps[i] as Step);
      if (p) return p;
    }
    return start;
  }

  /** Where the key at segments is written (for unknown keys); else as value(). */
  key(segments: readonly Segment[]): Position {
    const steps = this.walk(segments);
    const last = steps[steps.length - 1] as Step;
    if (steps.length === segments.length + 1 && last.key?.range) return this.at(last.key.range[0]);
    return this.value(segments);
  }

  /** The text of the scalar at segments as written (`.inf`), or undefined. */
  text(segments: readonly Segment[]): string | undefined {
    const steps = this.walk(segments);
    const node = steps.length === segments.length + 1 ? steps[steps.length - 1]?.node : undefined;
    return isScalar(node) ? node.source ?? String(node.value) : undefined;
  }
}

/** A problem of the YAML tree itself, found before any schema check. */
export interface TreeProblem {
  segments: Segment[];
  position: Position;
  message: string;
}

/**
 * Duplicate keys (YAML forbids them; a parser keeping the last one would hide
 * a typo) and keys that are not plain scalars. Aliased subtrees are checked
 * where they are defined, not again where they are used.
 */
export function treeProblems(doc: Document, lines: LineCounter): TreeProblem[] {
  const out: TreeProblem[] = [];
  const at = (offset: number): Position => { const p = lines.linePos(offset); return { line: p.line, column: p.col }; };
  const visit = (node: unknown, segments: Segment[]): void => {
    if (isMap(node)) {
      const first = new Map<string, number>();
      for (const pair of node.items) {
        const key = pair.key as Node | null;
        const offset = key?.range?.[0] ?? node.range?.[0] ?? 0;
        const name = keyText(key);
        if (name === undefined) {
          out.push({ segments, position: at(offset), message: 'keys must be plain names; got a list or mapping as a key' });
          continue;
        }
        const line = first.get(name);
        if (line !== undefined) {
          out.push({ segments: [...segments, name], position: at(offset), message: `duplicate key '${name}' (first at line ${line})` });
        } else {
          first.set(name, at(offset).line);
        }
        visit(pair.value, [...segments, name]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...segments, i]));
    }
  };
  visit(doc.contents, []);
  return out;
}

/**
 * The parser's tokens of text, or the offset where it nests more than max
 * collections deep. yaml's parser takes time growing with the depth and its
 * composer recurses once per level, so a file of brackets ([[[[...) would
 * take many seconds or overflow the stack: the lexemes are watched as they
 * come (flow brackets, and block indicators like '- - -' stacked on one
 * line), then the finished tokens are measured exactly.
 */
export function parseTokens(text: string, lines: LineCounter, max: number): { tokens: CST.Token[] } | { tooDeep: number } {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  const tokens: CST.Token[] = [];
  let flow = 0;
  let onLine = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (lexeme === '[' || lexeme === '{') {
      if (++flow > max) return { tooDeep: parser.offset };
    } else if (lexeme === ']' || lexeme === '}') {
      flow = Math.max(0, flow - 1);
    } else if ((lexeme === '-' || lexeme === '?') && flow === 0) {
      if (++onLine > max) return { tooDeep: parser.offset };
    } else if (lexeme === '\n' || lexeme === '\r\n') {
      onLine = 0;
    }
    for (const token of parser.next(lexeme)) tokens.push(token);
  }
  for (const token of parser.end()) tokens.push(token);
  const deep = nestingTooDeep(tokens, max);
  return deep === undefined ? { tokens } : { tooDeep: deep };
}

/**
 * The offset of the first collection nested deeper than max in the parser's
 * tokens, or undefined. Walks with its own stack: the point is to refuse
 * what would overflow the call stack of the recursive steps that follow.
 */
function nestingTooDeep(tokens: readonly CST.Token[], max: number): number | undefined {
  const todo: Array<{ token: CST.Token; depth: number }> = tokens.map((token) => ({ token, depth: 0 }));
  while (todo.length > 0) {
    const { token, depth } = todo.pop() as { token: CST.Token; depth: number };
    if (token.type === 'document') {
      if (token.value) todo.push({ token: token.value, depth });
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > max) return token.offset;
      for (const item of token.items) {
        if (item.key) todo.push({ token: item.key, depth: depth + 1 });
        if (item.value) todo.push({ token: item.value, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/** A problem of the document's aliases, at an offset in the text. */
export interface AliasProblem {
  offset: number;
  message: string;
}

/**
 * At most this many values after expanding aliases: several times what a
 * 1 MiB file can hold written out, so only an alias bomb (billion laughs:
 * aliases of aliases, growing exponentially) reaches it.
 */
export const maxExpandedValues = 200_000;

/**
 * At most this many aliases: a config needs a handful, and yaml resolves
 * each alias by a search through the anchors, so many thousands of them
 * would take seconds.
 */
export const maxAliases = 1000;

/**
 * Aliases that name no earlier anchor, aliases inside the node they name (a
 * cycle, which no config can mean), and aliases that expand the document past
 * maxExpandedValues; each at the alias itself, where yaml's own conversion
 * would report them at the top of the file or run out of stack.
 */
export function aliasProblems(doc: Document): AliasProblem[] {
  const out: AliasProblem[] = [];
  // Anchors as defined so far in document order: an alias names the latest
  // one before it (YAML 1.2 3.2.2.2), found here without yaml's per-alias search.
  const anchors = new Map<string, Node>();
  const size = new Map<Node, number>();
  let total = 0;
  let aliases = 0;
  let stopped = false;
  // Values of node once expanded. Document order means an alias's target is
  // complete before the alias is reached (it is defined earlier and, with
  // cycles refused, is no ancestor), so the recursion is only as deep as the file.
  const count = (node: unknown): number => {
    if (stopped) return 0;
    if (isAlias(node)) {
      const offset = node.range?.[0] ?? 0;
      if (++aliases > maxAliases) {
        out.push({ offset, message: `more than ${maxAliases} aliases; write the values out` });
        stopped = true;
        return 0;
      }
      const target = anchors.get(node.source);
      if (!target) {
        out.push({ offset, message: `alias *${node.source} names no anchor &${node.source} before it` });
        return 1;
      }
      const span = target.range;
      if (span && offset >= span[0] && offset < span[2]) {
        out.push({ offset, message: `alias *${node.source} is inside the node its anchor &${node.source} names (a cycle)` });
        return 1;
      }
      const n = size.get(target) ?? 1;
      total += n;
      if (total > maxExpandedValues) {
        out.push({ offset, message: `alias *${node.source} expands the file past ${maxExpandedValues} values (aliases of aliases); write the values out` });
        stopped = true;
      }
      return n;
    }
    total++;
    if (isNode(node) && node.anchor) anchors.set(node.anchor, node);
    let n = 1;
    if (isMap(node)) for (const pair of node.items) n += count(pair.key) + count(pair.value);
    else if (isSeq(node)) for (const item of node.items) n += count(item);
    if (isNode(node) && node.anchor) size.set(node, n);
    return n;
  };
  count(doc.contents);
  return out;
}
