// What a bus contract is: a daemon's methods (params and result) and topics
// (payload), each a TypeBox schema with its compiled checker, and how a
// value that does not match is described (JSON pointer, what was expected).
import { Kind, OptionalKind, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, ValueErrorType, type TypeCheck } from '@sinclair/typebox/compiler';
import { TernError } from '../errors.js';

/** One method as declared: params absent means the method takes none. */
export interface MethodDecl {
  /** One line: what the method answers. */
  summary: string;
  /** The params object; omit for a method that takes none. */
  params?: TSchema;
  result: TSchema;
}

/** One topic as declared. */
export interface TopicDecl {
  /** One line: when it is published. */
  when: string;
  payload: TSchema;
}

export type MethodDecls = Record<string, MethodDecl>;
export type TopicDecls = Record<string, TopicDecl>;

/** The method map (BusServer / BusClient M) a contract's methods stand for. */
export type MethodsOf<D extends MethodDecls> = {
  [K in keyof D]: {
    params: D[K] extends { params: infer P extends TSchema } ? Static<P> : undefined;
    result: Static<D[K]['result']>;
  };
};

/** The topic map (BusServer T, BusClient T) a contract's topics stand for. */
export type TopicsOf<D extends TopicDecls> = { [K in keyof D]: Static<D[K]['payload']> };

/** Where a value departs from its schema, for people: `/paths/0/rttMs: got "5"; want number | null`. */
export interface Mismatch {
  /** JSON pointer (RFC 6901) to the offending value; "" for the whole value. */
  pointer: string;
  /** The schema at that place, written as a type. */
  expected: string;
  /** The offending value, shortened. */
  got: string;
}

/** A compiled checker for one schema. */
export interface Checker<S extends TSchema = TSchema> {
  schema: S;
  /** True when value matches. */
  check(value: unknown): value is Static<S>;
  /** The first place where value does not match, or undefined when it does. */
  mismatch(value: unknown): Mismatch | undefined;
}

export function checker<S extends TSchema>(schema: S): Checker<S> {
  const compiled: TypeCheck<S> = TypeCompiler.Compile(schema);
  return {
    schema,
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    mismatch(value: unknown): Mismatch | undefined {
      if (compiled.Check(value)) return undefined;
      const first = compiled.Errors(value).First();
      if (!first) return { pointer: '', expected: typeText(schema), got: shown(value) };
      if (first.type === ValueErrorType.ObjectAdditionalProperties) {
        const known = Object.keys((first.schema as { properties?: object }).properties ?? {});
        return { pointer: first.path, expected: `no such key (known: ${known.join(', ') || 'none'})`, got: shown(first.value) };
      }
      return { pointer: first.path, expected: typeText(first.schema), got: first.path === '' || first.value !== undefined ? shown(first.value) : 'nothing' };
    },
  };
}

/** One method of a contract, compiled. */
export interface MethodContract {
  name: string;
  summary: string;
  params: Checker | undefined;
  result: Checker;
}

/** One topic of a contract, compiled. */
export interface TopicContract {
  name: string;
  when: string;
  payload: Checker;
}

/** A daemon's bus API: the one place its methods and topics are declared. */
export interface Contract<M extends MethodDecls = MethodDecls, T extends TopicDecls = TopicDecls> {
  /** The daemon serving it (its socket is /run/tern/<daemon>.sock); `runner` for the methods every daemon serves. */
  daemon: string;
  /** One line: what the daemon answers on the bus. */
  summary: string;
  methods: { [K in keyof M & string]: MethodContract };
  topics: { [K in keyof T & string]: TopicContract };
  /** The declarations as written (for MethodsOf / TopicsOf). */
  readonly decls: { methods: M; topics: T };
}

/** The BusServer / BusClient method map of a contract. */
export type ContractMethods<C> = C extends Contract<infer M, TopicDecls> ? MethodsOf<M> : never;
/** The BusServer / BusClient topic map of a contract. */
export type ContractTopics<C> = C extends Contract<MethodDecls, infer T> ? TopicsOf<T> : never;

/** Compile a daemon's declarations into its contract. */
export function defineContract<M extends MethodDecls, T extends TopicDecls>(decl: { daemon: string; summary: string; methods: M; topics: T }): Contract<M, T> {
  const methods = {} as Record<string, MethodContract>;
  for (const [name, m] of Object.entries(decl.methods)) {
    if (name.startsWith('rpc.')) throw new TernError('TERN_E_BUS_USAGE', `api: ${decl.daemon}: method ${name}: names starting with rpc. are the bus's own`);
    methods[name] = { name, summary: m.summary, params: m.params ? checker(m.params) : undefined, result: checker(m.result) };
  }
  const topics = {} as Record<string, TopicContract>;
  for (const [name, t] of Object.entries(decl.topics)) topics[name] = { name, when: t.when, payload: checker(t.payload) };
  return {
    daemon: decl.daemon,
    summary: decl.summary,
    methods: methods as Contract<M, T>['methods'],
    topics: topics as Contract<M, T>['topics'],
    decls: { methods: decl.methods, topics: decl.topics },
  };
}

/** A contract holding the methods and topics of all of contracts (each name declared once). */
export function mergeContracts(daemon: string, ...contracts: Contract[]): Contract {
  const methods: Record<string, MethodContract> = {};
  const topics: Record<string, TopicContract> = {};
  for (const c of contracts) {
    for (const [n, m] of Object.entries(c.methods)) {
      if (methods[n]) throw new TernError('TERN_E_BUS_USAGE', `api: ${daemon}: method ${n} is declared twice (${c.daemon} and another); want each once`);
      methods[n] = m;
    }
    for (const [n, t] of Object.entries(c.topics)) {
      if (topics[n]) throw new TernError('TERN_E_BUS_USAGE', `api: ${daemon}: topic ${n} is declared twice (${c.daemon} and another); want each once`);
      topics[n] = t;
    }
  }
  return { daemon, summary: contracts.map((c) => c.summary).join(' '), methods, topics, decls: { methods: {}, topics: {} } };
}

/** The `<pointer>: got X; want Y` text of a mismatch. */
export function mismatchText(m: Mismatch): string {
  return `${m.pointer || '(whole value)'}: got ${m.got}; want ${m.expected}`;
}

/** TERN_E_BUS_INVALID_PARAMS for params that do not match method's contract. */
export function paramsError(method: string, m: Mismatch): TernError {
  return new TernError('TERN_E_BUS_INVALID_PARAMS', `bus: ${method}: params: ${mismatchText(m)}`, { details: { method, ...m } });
}

/**
 * TERN_E_BUS_CONTRACT for a result or payload that does not match its
 * contract: what names the message (`result of paths.metrics`, `topic
 * path.metrics`), where says who refused it (`bus server`, `steerd`).
 */
export function contractError(where: string, what: string, m: Mismatch): TernError {
  return new TernError('TERN_E_BUS_CONTRACT', `${where}: ${what}: ${mismatchText(m)}`, { details: { message: what, ...m } });
}

/** Checks params against method's contract and returns them; throws paramsError. */
export function checkParams<P>(method: MethodContract, raw: unknown): P {
  if (!method.params) {
    // A method without params takes none: an empty object or array is none too.
    if (raw === undefined || isEmpty(raw)) return undefined as P;
    throw paramsError(method.name, { pointer: '', expected: 'no params', got: shown(raw) });
  }
  const m = method.params.mismatch(raw);
  if (m) throw paramsError(method.name, m);
  return raw as P;
}

function isEmpty(v: unknown): boolean {
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && v !== null && Object.keys(v).length === 0;
}

/** A value for an error message: JSON, shortened to 60 characters. */
export function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A schema written as a TypeScript-like type: `{path?: string} | none`, `PathMetrics[]`. Titled schemas are named by their title below the top. */
export function typeText(schema: TSchema, depth = 0): string {
  const s = schema as TSchema & Record<string, unknown>;
  if (depth > 0 && typeof s.title === 'string') return s.title;
  const inner = (x: TSchema): string => typeText(x, depth + 1);
  switch (s[Kind]) {
    case 'String': return 'string';
    case 'Number': return 'number';
    case 'Integer': return 'integer';
    case 'Boolean': return 'boolean';
    case 'Null': return 'null';
    case 'Undefined': return 'none';
    case 'Unknown':
    case 'Any': return 'any';
    case 'Literal': return JSON.stringify(s.const);
    case 'Union': return (s.anyOf as TSchema[]).map(inner).join(' | ');
    case 'Intersect': return (s.allOf as TSchema[]).map(inner).join(' & ');
    case 'Array': {
      const items = inner(s.items as TSchema);
      return /[|& ]/.test(items) && !items.startsWith('{') ? `(${items})[]` : `${items}[]`;
    }
    case 'Record': {
      const pattern = Object.values(s.patternProperties as Record<string, TSchema>)[0];
      return `{[key: string]: ${pattern ? inner(pattern) : 'any'}}`;
    }
    case 'Object': {
      const props = s.properties as Record<string, TSchema>;
      const keys = Object.keys(props);
      if (keys.length === 0) return s.additionalProperties === false ? '{}' : '{...}';
      const open = s.additionalProperties === false ? '' : ', ...';
      return `{${keys.map((k) => `${k}${props[k]![OptionalKind] === 'Optional' ? '?' : ''}: ${inner(props[k]!)}`).join(', ')}${open}}`;
    }
    default: return 'any';
  }
}

/** The named (titled) schemas reachable from schema, in first-seen order. */
export function namedSchemas(schema: TSchema, into: Map<string, TSchema> = new Map(), depth = 0): Map<string, TSchema> {
  const s = schema as TSchema & Record<string, unknown>;
  if (depth > 0 && typeof s.title === 'string') {
    if (into.has(s.title)) return into;
    into.set(s.title, schema);
  }
  const next = (x: TSchema): void => void namedSchemas(x, into, depth + 1);
  switch (s[Kind]) {
    case 'Union': (s.anyOf as TSchema[]).forEach(next); break;
    case 'Intersect': (s.allOf as TSchema[]).forEach(next); break;
    case 'Array': next(s.items as TSchema); break;
    case 'Record': Object.values(s.patternProperties as Record<string, TSchema>).forEach(next); break;
    case 'Object': Object.values(s.properties as Record<string, TSchema>).forEach(next); break;
    default: break;
  }
  return into;
}
