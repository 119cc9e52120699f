// Schema pieces every contract uses: nullable figures, the health verdict of
// a path or WAN, names, and the two object kinds (params closed, replies open).
import { Type, type TObject, type TProperties, type TSchema, type ObjectOptions } from '@sinclair/typebox';

/**
 * Params are closed: a key the method does not know (a typo, a renamed
 * param) is refused at the boundary, not silently ignored.
 */
export function Params<P extends TProperties>(props: P, opts: ObjectOptions = {}): TObject<P> {
  return Type.Object(props, { ...opts, additionalProperties: false });
}

/**
 * Results and payloads are open: every field listed is required (or marked
 * optional) and typed, and a producer may add fields without breaking the
 * consumers already running (a daemon is upgraded before its clients).
 */
export function Reply<P extends TProperties>(props: P, opts: ObjectOptions = {}): TObject<P> {
  return Type.Object(props, opts);
}

/** An object not declared further (its fields are the producer's; listed in its README). */
export const Open = (description?: string) => Type.Object({}, description ? { description } : {});

/** A count: an integer, never negative. */
export const Count = (description?: string) => Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

/** A number, or null while there is no figure (nothing answered yet). */
export const Figure = (description?: string) => Type.Union([Type.Number(), Type.Null()], description ? { description } : {});

/** Wall-clock milliseconds since the epoch. */
export const WallMs = (description = 'wall-clock ms') => Type.Number({ description });

/**
 * The verdict of probing on a path or a WAN (probed's state machine): the
 * one word, `state`, wherever it travels (glossary: path verdict).
 */
export const Verdict = Type.Union([Type.Literal('unknown'), Type.Literal('up'), Type.Literal('degraded'), Type.Literal('down')], {
  title: 'Verdict', description: 'probing verdict: unknown, up, degraded or down',
});

/** A path id: `<localWan>/<site>/<remoteWan>`. */
export const PathId = Type.String({ minLength: 1, description: 'path id <localWan>/<site>/<remoteWan>' });

/** Shorthand for an optional property. */
export const Opt = <S extends TSchema>(s: S) => Type.Optional(s);
