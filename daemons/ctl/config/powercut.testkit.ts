// A power-cut model for ternctl's config files (issue #15). While a command
// runs, every file-system call under one directory (node:fs, patched for the
// duration) and every commit of the state database (Store.prototype.
// transaction, with a copy of the database taken after it) is recorded in
// order. crashStates() then lists, for a cut after each recorded call, what
// a power cut could leave on disk:
// - a file's data survives as of its last fsync; data written since is kept
//   or lost (both states are listed);
// - each directory operation (create, rename, unlink) since the directory's
//   last fsync may or may not have reached the disk: every subset is listed,
//   a rename whole or not at all (POSIX promises no order between them);
// - the database keeps every commit up to its last synchronous=FULL commit
//   (WAL: FULL syncs the log at commit) and may lose any suffix of the
//   synchronous=NORMAL commits after it (a lost WAL tail is lost in order).
// Keeping everything is a process kill at that point. This is a model, not
// a measurement: it is as good as those rules (POSIX's and SQLite's
// documented promises). Not modelled: a file's data torn within one write
// (every file is fsynced before it is renamed into place), modes and owners,
// a checkpoint making NORMAL commits durable early (it only removes states).
import fs from 'node:fs';
import path from 'node:path';
import { Store, type Queryable } from '../../lib/store/index.js';

type DirOp = { op: 'link'; name: string; ino: number } | { op: 'unlink'; name: string } | { op: 'rename'; from: string; to: string; ino: number };

interface Inode { data: string; durable: string }
interface Dir { durable: Map<string, number>; now: Map<string, number>; pending: DirOp[] }

/** One recorded call and the model right after it. */
export interface Step {
  what: string;
  /** Marks set (in order) before this step, e.g. "confirm returned". */
  marks: string[];
  inodes: Map<number, Inode>;
  dirs: Map<string, Dir>;
  /** The database files a power cut here could leave, oldest first (null: no database yet). */
  db: Array<{ file: string | null; label: string }>;
}

/** One state a power cut can leave. */
export interface CrashState {
  /** Files under the recorded directory (relative name → content). */
  files: Map<string, string>;
  /** The database file to put in place; null: none. */
  db: string | null;
  marks: string[];
  /** Where the cut was and what survived, for messages. */
  label: string;
}

type Real = Pick<typeof fs, 'openSync' | 'writeSync' | 'fsyncSync' | 'fdatasyncSync' | 'closeSync' | 'renameSync' | 'unlinkSync' | 'rmSync' | 'writeFileSync'>;

// Calls that change files but are not modelled: one of them under the
// recorded directory fails the recording rather than go unseen.
const unmodelled = ['appendFileSync', 'copyFileSync', 'cpSync', 'truncateSync', 'ftruncateSync', 'linkSync', 'symlinkSync', 'mkdirSync', 'rmdirSync',
  'writeFile', 'appendFile', 'rename', 'unlink', 'rm', 'copyFile', 'truncate', 'mkdir', 'open'] as const;
const unmodelledPromises = ['writeFile', 'appendFile', 'rename', 'unlink', 'rm', 'copyFile', 'truncate', 'mkdir', 'open'] as const;

/** Records the file-system calls under root and the database commits, between start() and stop(). */
export class PowerCutRecorder {
  readonly steps: Step[] = [];
  private readonly inodes = new Map<number, Inode>();
  private readonly dirs = new Map<string, Dir>();
  private readonly fds = new Map<number, { dir: string } | { ino: number; file: string }>();
  private readonly commits: Array<{ file: string | null; label: string }> = [];
  private durable = 0;
  private marks: string[] = [];
  private nextIno = 1;
  private restore: Array<() => void> = [];

  /**
   * root: the directory whose files are modelled (flat); dbFile: the state
   * database (its starting content is taken as durable); scratch: where the
   * database copies go.
   */
  constructor(readonly root: string, private readonly dbFile: string, private readonly scratch: string) {
    fs.mkdirSync(scratch, { recursive: true });
    const dir: Dir = { durable: new Map(), now: new Map(), pending: [] };
    for (const e of fs.readdirSync(root, { withFileTypes: true })) {
      if (!e.isFile()) throw new Error(`powercut: ${root}/${e.name} is not a plain file; only a flat directory is modelled`);
      const text = fs.readFileSync(path.join(root, e.name), 'utf8');
      const ino = this.nextIno++;
      this.inodes.set(ino, { data: text, durable: text });
      dir.durable.set(e.name, ino);
      dir.now.set(e.name, ino);
    }
    this.dirs.set(root, dir);
    let start: string | null = null;
    if (fs.existsSync(dbFile)) {
      if (fs.existsSync(`${dbFile}-wal`)) throw new Error(`powercut: ${dbFile} has a WAL; start from a checkpointed copy`);
      start = path.join(scratch, 'db-0.db');
      fs.copyFileSync(dbFile, start);
    }
    this.commits.push({ file: start, label: start ? 'the database as it was' : 'no database' });
    this.step('nothing done yet');
  }

  /** Patch node:fs and the store; every call under root is recorded until stop(). */
  start(): void {
    const real: Real = { ...fs };
    const patch = <K extends keyof typeof fs>(obj: typeof fs | typeof fs.promises, name: K | string, fn: unknown): void => {
      const o = obj as unknown as Record<string, unknown>;
      const before = o[name as string];
      o[name as string] = fn;
      this.restore.push(() => { o[name as string] = before; });
    };
    const under = (p: unknown): string | undefined => {
      if (typeof p !== 'string' && !(p instanceof URL) && !Buffer.isBuffer(p)) return undefined;
      const abs = path.resolve(p instanceof URL ? p.pathname : String(p));
      return abs === this.root || abs.startsWith(this.root + path.sep) ? abs : undefined;
    };
    const dirOf = (abs: string): Dir => {
      const d = this.dirs.get(path.dirname(abs));
      if (!d) throw new Error(`powercut: ${abs}: only files directly in ${this.root} are modelled`);
      return d;
    };

    patch(fs, 'openSync', (p: fs.PathLike, flags: fs.OpenMode = 'r', mode?: fs.Mode) => {
      const abs = under(p);
      const existed = abs !== undefined && fs.existsSync(abs);
      const fd = real.openSync(p, flags, mode);
      if (abs === undefined) return fd;
      if (fs.fstatSync(fd).isDirectory()) {
        if (abs !== this.root) throw new Error(`powercut: ${abs}: sub-directories are not modelled`);
        this.fds.set(fd, { dir: abs });
        return fd;
      }
      const { create, truncate } = openFlags(flags);
      const d = dirOf(abs);
      const name = path.basename(abs);
      let ino = d.now.get(name);
      if (!existed) {
        if (!create) return fd;
        ino = this.nextIno++;
        this.inodes.set(ino, { data: '', durable: '' });
        d.now.set(name, ino);
        d.pending.push({ op: 'link', name, ino });
      } else if (ino === undefined) {
        throw new Error(`powercut: ${abs} exists but was made behind the recorder's back`);
      } else if (truncate) {
        this.inodes.get(ino)!.data = '';
      }
      this.fds.set(fd, { ino, file: abs });
      this.step(`open ${name}${existed ? '' : ' (new)'}`);
      return fd;
    });
    patch(fs, 'writeSync', (fd: number, buf: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
      const n = (real.writeSync as (...a: unknown[]) => number)(fd, buf, ...rest);
      const f = this.fds.get(fd);
      if (f && 'ino' in f) {
        if (typeof buf === 'string' ? rest[0] !== undefined && rest[0] !== null : rest[2] !== undefined && rest[2] !== null) {
          throw new Error(`powercut: write at a position in ${f.file} is not modelled`);
        }
        const text = typeof buf === 'string' ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).subarray((rest[0] as number | undefined) ?? 0, ((rest[0] as number | undefined) ?? 0) + n).toString('utf8');
        this.inodes.get(f.ino)!.data += text;
        this.step(`write ${path.basename(f.file)} (${n} bytes)`);
      }
      return n;
    });
    const sync = (name: 'fsyncSync' | 'fdatasyncSync') => (fd: number) => {
      real[name](fd);
      const f = this.fds.get(fd);
      if (!f) return;
      if ('dir' in f) {
        const d = this.dirs.get(f.dir)!;
        d.durable = new Map(d.now);
        d.pending = [];
        this.step(`fsync the directory ${path.basename(f.dir)}`);
      } else {
        const ino = this.inodes.get(f.ino)!;
        ino.durable = ino.data;
        this.step(`fsync ${path.basename(f.file)}`);
      }
    };
    patch(fs, 'fsyncSync', sync('fsyncSync'));
    patch(fs, 'fdatasyncSync', sync('fdatasyncSync'));
    patch(fs, 'closeSync', (fd: number) => {
      real.closeSync(fd);
      this.fds.delete(fd);
    });
    patch(fs, 'renameSync', (from: fs.PathLike, to: fs.PathLike) => {
      const a = under(from);
      const b = under(to);
      real.renameSync(from, to);
      if (a === undefined && b === undefined) return;
      if (a === undefined || b === undefined || path.dirname(a) !== path.dirname(b)) throw new Error(`powercut: rename ${String(from)} → ${String(to)} across directories is not modelled`);
      const d = dirOf(a);
      const ino = d.now.get(path.basename(a));
      if (ino === undefined) throw new Error(`powercut: ${a} was made behind the recorder's back`);
      d.now.delete(path.basename(a));
      d.now.set(path.basename(b), ino);
      d.pending.push({ op: 'rename', from: path.basename(a), to: path.basename(b), ino });
      this.step(`rename ${path.basename(a)} → ${path.basename(b)}`);
    });
    const unlink = (abs: string): void => {
      const d = dirOf(abs);
      const name = path.basename(abs);
      if (!d.now.has(name)) return;
      d.now.delete(name);
      d.pending.push({ op: 'unlink', name });
      this.step(`unlink ${name}`);
    };
    patch(fs, 'unlinkSync', (p: fs.PathLike) => {
      real.unlinkSync(p);
      const abs = under(p);
      if (abs !== undefined) unlink(abs);
    });
    patch(fs, 'rmSync', (p: fs.PathLike, opts?: fs.RmOptions) => {
      real.rmSync(p, opts);
      const abs = under(p);
      if (abs !== undefined) unlink(abs);
    });
    patch(fs, 'writeFileSync', (p: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, opts?: fs.WriteFileOptions) => {
      real.writeFileSync(p, data, opts);
      const abs = typeof p === 'number' ? undefined : under(p);
      if (abs === undefined) return;
      const text = typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
      const d = dirOf(abs);
      const name = path.basename(abs);
      const ino = d.now.get(name);
      if (ino !== undefined) {
        this.inodes.get(ino)!.data = text;
      } else {
        const n = this.nextIno++;
        this.inodes.set(n, { data: text, durable: '' });
        d.now.set(name, n);
        d.pending.push({ op: 'link', name, ino: n });
      }
      this.step(`writeFile ${name} (no fsync)`);
    });
    for (const name of unmodelled) {
      const before = (fs as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
      patch(fs, name, (...args: unknown[]) => {
        if (args.some((a) => under(a) !== undefined)) throw new Error(`powercut: fs.${name} under ${this.root} is not modelled`);
        return before(...args);
      });
    }
    for (const name of unmodelledPromises) {
      const before = (fs.promises as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
      patch(fs.promises, name, (...args: unknown[]) => {
        if (args.some((a) => under(a) !== undefined)) throw new Error(`powercut: fs.promises.${name} under ${this.root} is not modelled`);
        return before(...args);
      });
    }

    // Every database write of the config commands is a Store transaction.
    const transaction = Store.prototype.transaction;
    const recorder = this;
    Store.prototype.transaction = async function <T>(this: Store, fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const r = await transaction.call(this, fn) as T;
      if (path.resolve(this.file) === path.resolve(recorder.dbFile)) await recorder.commit(this);
      return r;
    };
    this.restore.push(() => { Store.prototype.transaction = transaction; });
  }

  stop(): void {
    for (const undo of this.restore.reverse()) undo();
    this.restore = [];
  }

  /** Note that something the user sees has happened (e.g. "confirm returned"). */
  mark(what: string): void {
    this.marks = [...this.marks, what];
    this.step(what);
  }

  private async commit(store: Store): Promise<void> {
    const n = this.commits.length;
    const file = path.join(this.scratch, `db-${n}.db`);
    await store.run('VACUUM INTO ?', [file]);
    const sync = (await store.get<{ synchronous: number }>('PRAGMA synchronous'))?.synchronous ?? 0;
    const full = sync >= 2;
    this.commits.push({ file, label: `commit ${n} (${full ? 'FULL' : 'NORMAL'})` });
    if (full) this.durable = n;
    this.step(`database commit ${n} (synchronous ${full ? 'FULL' : 'NORMAL'})`);
  }

  private step(what: string): void {
    this.steps.push({
      what,
      marks: this.marks,
      inodes: new Map([...this.inodes].map(([k, v]) => [k, { ...v }])),
      dirs: new Map([...this.dirs].map(([k, v]) => [k, { durable: new Map(v.durable), now: new Map(v.now), pending: [...v.pending] }])),
      db: this.commits.slice(this.durable),
    });
  }
}

function openFlags(flags: fs.OpenMode): { create: boolean; truncate: boolean } {
  if (typeof flags === 'number') return { create: (flags & fs.constants.O_CREAT) !== 0, truncate: (flags & fs.constants.O_TRUNC) !== 0 };
  return { create: /[wa]/.test(flags), truncate: flags.startsWith('w') };
}

/** Every distinct state a power cut after any recorded step could leave. */
export function crashStates(steps: Step[]): CrashState[] {
  const seen = new Map<string, CrashState>();
  steps.forEach((s, i) => {
    for (const d of [...s.dirs.values()]) {
      if (s.dirs.size !== 1) throw new Error('powercut: one directory is modelled');
      for (let mask = 0; mask < 1 << d.pending.length; mask++) {
        const entries = new Map(d.durable);
        const kept: string[] = [];
        d.pending.forEach((op, j) => {
          if (!(mask & (1 << j))) return;
          kept.push(op.op === 'rename' ? `rename ${op.from} → ${op.to}` : `${op.op} ${op.name}`);
          if (op.op === 'link') entries.set(op.name, op.ino);
          else if (op.op === 'unlink') entries.delete(op.name);
          else { entries.delete(op.from); entries.set(op.to, op.ino); }
        });
        const dirty = [...new Set(entries.values())].filter((ino) => s.inodes.get(ino)!.data !== s.inodes.get(ino)!.durable);
        for (let dm = 0; dm < 1 << dirty.length; dm++) {
          const files = new Map<string, string>();
          for (const [name, ino] of [...entries].sort(([a], [b]) => a.localeCompare(b))) {
            const node = s.inodes.get(ino)!;
            const j = dirty.indexOf(ino);
            files.set(name, j >= 0 && dm & (1 << j) ? node.data : node.durable);
          }
          for (const db of s.db) {
            const key = JSON.stringify([[...files], db.file, s.marks]);
            if (seen.has(key)) continue;
            const unsynced = d.pending.length ? `; of the directory changes since its last fsync, ${kept.length ? kept.join(', ') : 'none'} reached the disk` : '';
            const data = dirty.length ? `; unsynced data kept in ${dirty.filter((_, j) => dm & (1 << j)).length} of ${dirty.length} file(s)` : '';
            seen.set(key, { files, db: db.file, marks: s.marks, label: `cut after step ${i} (${s.what})${unsynced}${data}; database: ${db.label}` });
          }
        }
      }
    }
  });
  return [...seen.values()];
}

/** Put a crash state in place: root holds exactly its files, dbFile is its database (or absent). */
export function materialise(state: CrashState, root: string, dbFile: string): void {
  for (const f of fs.readdirSync(root)) fs.rmSync(path.join(root, f), { force: true, recursive: true });
  for (const [name, text] of state.files) fs.writeFileSync(path.join(root, name), text, { mode: 0o640 });
  for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`, `${dbFile}-journal`]) fs.rmSync(f, { force: true });
  if (state.db) fs.copyFileSync(state.db, dbFile);
}
