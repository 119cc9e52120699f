// Test fixture for store.test.ts: writes batches of rows as fast as it can
// and prints each committed batch id, until it is killed.
import { Store } from './index.js';

const file = process.argv[2];
if (!file) throw new Error('usage: crash-writer.fixture.js DBFILE');
const store = await Store.open(file);
await store.run('CREATE TABLE IF NOT EXISTS crash (batch INTEGER NOT NULL, i INTEGER NOT NULL, payload TEXT NOT NULL)');
const start = Number((await store.get<{ m: number | null }>('SELECT max(batch) AS m FROM crash'))?.m ?? 0) + 1;
const payload = 'x'.repeat(2000);
for (let batch = start; ; batch++) {
  await store.transaction(async (tx) => {
    for (let i = 0; i < 20; i++) await tx.run('INSERT INTO crash (batch, i, payload) VALUES (?, ?, ?)', [batch, i, payload]);
  });
  process.stdout.write(`${batch}\n`);
}
