// The state database's schema, as consecutive migrations. A migration is
// never edited once released: change the schema by appending one.

export interface Migration {
  version: number;
  name: string;
  /** SQL run inside the migration's transaction. */
  up: string;
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
];
