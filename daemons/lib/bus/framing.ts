// Newline-delimited framing of the bus byte stream, with a hard cap on the
// size of one message so a peer can never make us buffer without bound.
import { TernError } from '../errors.js';

/** The default largest message, in bytes, not counting its line terminator. */
export const defaultMaxMessageBytes = 1024 * 1024;

/** What the decoder found in the bytes pushed into it. */
export type Frame =
  /** One complete message (without its line terminator), as text. */
  | { kind: 'line'; text: string }
  /** A complete line whose bytes are not valid UTF-8; the line is dropped. */
  | { kind: 'invalid-utf8'; bytes: number }
  /**
   * A line grew past the maximum. bytes is how much of it had been seen when
   * that was noticed; the rest of the line is discarded as it arrives.
   */
  | { kind: 'too-large'; bytes: number };

export interface LineDecoderOptions {
  /** Largest message in bytes, not counting `\n` or `\r\n`; default 1 MiB. */
  maxMessageBytes?: number;
}

const newline = 0x0a;
const carriageReturn = 0x0d;

/**
 * Splits a byte stream into lines. Messages may arrive split over any number
 * of chunks or many to a chunk; `\n` and `\r\n` both end a line; blank lines
 * are skipped. A line longer than maxMessageBytes is reported once and its
 * bytes are thrown away as they come, so memory stays within about
 * maxMessageBytes plus one chunk whatever the peer sends.
 */
export class LineDecoder {
  readonly maxMessageBytes: number;
  private parts: Uint8Array[] = [];
  private size = 0;
  /** True while skipping the rest of an oversized line. */
  private discarding = false;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(opts: LineDecoderOptions = {}) {
    this.maxMessageBytes = checkMaxMessageBytes(opts.maxMessageBytes ?? defaultMaxMessageBytes);
  }

  /** Bytes held for a message not yet complete (for tests and diagnostics). */
  get bufferedBytes(): number {
    return this.size;
  }

  /** Feed the next chunk of the stream; returns the frames it completed. */
  push(chunk: Uint8Array): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(newline, start);
      const end = nl === -1 ? chunk.length : nl;
      if (this.discarding) {
        if (nl !== -1) this.discarding = false;
      } else {
        this.take(chunk.subarray(start, end), nl !== -1, frames);
      }
      if (nl === -1) break;
      start = nl + 1;
    }
    return frames;
  }

  /**
   * The stream ended. Returns how many bytes of an unterminated last message
   * were dropped (0 when the stream ended on a line boundary).
   */
  finish(): number {
    const dropped = this.size;
    this.parts = [];
    this.size = 0;
    this.discarding = false;
    return dropped;
  }

  private take(piece: Uint8Array, complete: boolean, frames: Frame[]): void {
    // One byte of slack lets a line of exactly maxMessageBytes wait for the
    // `\n` of its `\r\n` without being called too large.
    if (this.size + piece.length > this.maxMessageBytes + 1) {
      frames.push({ kind: 'too-large', bytes: this.size + piece.length });
      this.parts = [];
      this.size = 0;
      this.discarding = !complete;
      return;
    }
    if (piece.length > 0) {
      // Copy: the caller may reuse its chunk buffer after push returns.
      this.parts.push(complete && this.parts.length === 0 ? piece : new Uint8Array(piece));
      this.size += piece.length;
    }
    if (!complete) return;
    let line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    if (line.length > 0 && line[line.length - 1] === carriageReturn) line = line.subarray(0, line.length - 1);
    if (line.length > this.maxMessageBytes) {
      frames.push({ kind: 'too-large', bytes: line.length });
      return;
    }
    if (line.length === 0) return;
    let text: string;
    try {
      text = this.utf8.decode(line);
    } catch {
      frames.push({ kind: 'invalid-utf8', bytes: line.length });
      return;
    }
    if (isBlank(text)) return;
    frames.push({ kind: 'line', text });
  }
}

function isBlank(text: string): boolean {
  return /^\s*$/.test(text);
}

/** Validates a maxMessageBytes option: a positive integer. */
export function checkMaxMessageBytes(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new TernError('TERN_E_BUS_USAGE', `bus framing: options: maxMessageBytes is ${n}; want a positive integer`);
  }
  return n;
}

/** One message as a line on the wire: its JSON followed by `\n`. */
export function encodeLine(message: unknown): string {
  // JSON.stringify escapes any newline inside strings, so the only `\n` in
  // the output is the terminator.
  return JSON.stringify(message) + '\n';
}
