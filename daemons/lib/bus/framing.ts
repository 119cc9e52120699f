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

/** Smallest buffer kept for an unfinished message (it then doubles as needed). */
const minPartialBytes = 256;

/**
 * Splits a byte stream into lines. Messages may arrive split over any number
 * of chunks or many to a chunk; `\n` and `\r\n` both end a line; blank lines
 * are skipped. A line longer than maxMessageBytes is reported once and its
 * bytes are thrown away as they come, so memory stays within about
 * maxMessageBytes plus one chunk whatever the peer sends.
 *
 * An unfinished message is held in one buffer that doubles as it grows (up
 * to maxMessageBytes + 1) and is let go as soon as the line ends: a peer
 * sending a byte at a time cannot make it keep one small object per read,
 * and bufferedBytes is the memory really held, not just the bytes in it.
 */
export class LineDecoder {
  readonly maxMessageBytes: number;
  private partial: Buffer | undefined;
  private size = 0;
  /** True while skipping the rest of an oversized line. */
  private discarding = false;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(opts: LineDecoderOptions = {}) {
    this.maxMessageBytes = checkMaxMessageBytes(opts.maxMessageBytes ?? defaultMaxMessageBytes);
  }

  /** Bytes of memory held for a message not yet complete (0 when none). */
  get bufferedBytes(): number {
    return this.partial?.length ?? 0;
  }

  /** Bytes of an unfinished message received so far. */
  get pendingBytes(): number {
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
   * The stream ended (or the connection is being closed). Lets go of any
   * unfinished message and returns how many bytes of it were dropped (0 when
   * the stream ended on a line boundary).
   */
  finish(): number {
    const dropped = this.size;
    this.release();
    this.discarding = false;
    return dropped;
  }

  private release(): void {
    this.partial = undefined;
    this.size = 0;
  }

  private take(piece: Uint8Array, complete: boolean, frames: Frame[]): void {
    // One byte of slack lets a line of exactly maxMessageBytes wait for the
    // `\n` of its `\r\n` without being called too large.
    if (this.size + piece.length > this.maxMessageBytes + 1) {
      frames.push({ kind: 'too-large', bytes: this.size + piece.length });
      this.release();
      this.discarding = !complete;
      return;
    }
    let line: Uint8Array;
    if (this.size === 0 && complete) {
      // The whole line is in this chunk: no copy.
      line = piece;
    } else {
      // Copy: the caller may reuse its chunk buffer after push returns.
      if (piece.length > 0) this.append(piece);
      if (!complete) return;
      line = this.partial ? this.partial.subarray(0, this.size) : new Uint8Array(0);
      this.release();
    }
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

  private append(piece: Uint8Array): void {
    const need = this.size + piece.length;
    if (!this.partial || need > this.partial.length) {
      let capacity = Math.max(minPartialBytes, this.partial?.length ?? 0);
      while (capacity < need) capacity *= 2;
      // Never more than the largest line can use; allocUnsafeSlow keeps it
      // out of Node's shared pool, so letting go of it frees it.
      const grown = Buffer.allocUnsafeSlow(Math.min(capacity, this.maxMessageBytes + 1));
      if (this.partial) this.partial.copy(grown, 0, 0, this.size);
      this.partial = grown;
    }
    this.partial.set(piece, this.size);
    this.size = need;
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
