// Test fixture for store.test.ts: one more daemon writing the shared state
// database, run under a uid of its own (a member of the database's group
// only): opens it, commits a row, prints the row count.
import { Store } from './index.js';

const file = process.argv[2];
if (!file) throw new Error('usage: shared-writer.fixture.js DBFILE');
const store = await Store.open(file);
await store.run('INSERT INTO shared (who) VALUES (?)', [process.getuid?.() ?? -1]);
const row = await store.get<{ n: number }>('SELECT count(*) AS n FROM shared');
await store.close();
process.stdout.write(`${row?.n}\n`);
