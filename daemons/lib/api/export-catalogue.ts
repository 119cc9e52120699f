// Writes the bus catalogue generated from the contracts into docs/bus.md,
// between its markers (or prints it with --print):
// npx tsc -p . && node dist/daemons/lib/api/export-catalogue.js
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { catalogueText, withCatalogue } from './catalogue.js';

if (process.argv[2] === '--print') {
  process.stdout.write(catalogueText());
} else {
  // Run from dist/daemons/lib/api/, four levels below the repository root.
  const target = process.argv[2] ?? fileURLToPath(new URL('../../../../docs/bus.md', import.meta.url));
  writeFileSync(target, withCatalogue(readFileSync(target, 'utf8')));
  process.stdout.write(`export-catalogue: wrote the bus catalogue into ${target}\n`);
}
