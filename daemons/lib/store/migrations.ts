// The state database's schema, as consecutive migrations. A migration is
// never edited once released: change the schema by appending one.

export interface Migration {
  version: number;
  name: string;
  /** SQL run inside the migration's transaction. */
  up: string;
}

/** The tiers of probe history: one table each, every one with the same columns. */
export const probeTiers = ['probe_raw', 'probe_minute', 'probe_hour'] as const;

/** A tier's table (migration 2): sums, so rollups are additions and loss survives them exactly. */
function probeTierTable(table: string): string {
  return `CREATE TABLE ${table} (
        subject_id INTEGER NOT NULL REFERENCES probe_subject (id),
        t INTEGER NOT NULL,            -- unix seconds, start of the second / minute / hour
        sent INTEGER NOT NULL,
        lost INTEGER NOT NULL,
        lost_fwd INTEGER NOT NULL,     -- lost on the way to the reflector
        lost_rev INTEGER NOT NULL,     -- lost on the way back; lost - fwd - rev: direction unknown
        rtt_sum REAL NOT NULL,         -- ms, over the answered probes (sent - lost)
        rtt_sq_sum REAL NOT NULL,      -- ms², for the standard deviation
        rtt_min REAL,                  -- NULL when nothing was answered
        rtt_max REAL,
        jitter_sum REAL NOT NULL,      -- RFC 3550 J seen with each answer, summed
        jitter_max REAL,
        PRIMARY KEY (subject_id, t)
      ) WITHOUT ROWID;`;
}

export const coreMigrations: Migration[] = [
  {
    version: 1,
    name: 'events and config history',
    up: `
      CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,           -- wall-clock ms
        daemon TEXT NOT NULL,
        kind TEXT NOT NULL,            -- e.g. pair.failover, path.move, config.apply
        subject TEXT,                  -- the path, wan, site or flow it is about
        detail TEXT                    -- JSON
      );
      CREATE INDEX events_ts ON events (ts);
      CREATE INDEX events_kind_ts ON events (kind, ts);
      CREATE TABLE config_history (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        hash TEXT NOT NULL,            -- sha256 of the text
        text TEXT NOT NULL,
        source TEXT NOT NULL,          -- who applied it (ternctl, boot, rollback)
        state TEXT NOT NULL            -- pending, confirmed, rolled-back
      );
    `,
  },
  {
    // tern-probed's metric history (daemons/lib/history): every tier
    // holds sums, so rollups are additions and loss survives them exactly.
    version: 2,
    name: 'probe history tiers',
    up: `
      CREATE TABLE probe_subject (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE      -- path id (localWan/site/remoteWan), WAN name, or wan@target
      );
      ${probeTiers.map(probeTierTable).join('\n')}
      CREATE TABLE probe_rollup (
        tier TEXT PRIMARY KEY,         -- minute, hour
        done_until INTEGER NOT NULL    -- unix seconds: every finer row before this is rolled into this tier
      );
    `,
  },
];
