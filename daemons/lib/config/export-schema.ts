// Writes the JSON Schema of tern.yaml for editors to docs/tern.schema.json (or
// the file given): cd /work/main && npx tsc -p . && node dist/daemons/lib/config/export-schema.js
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jsonSchemaText } from './schema.js';

// Run from dist/daemons/lib/config/, four levels below the repository root.
const target = process.argv[2] ?? fileURLToPath(new URL('../../../../docs/tern.schema.json', import.meta.url));
writeFileSync(target, jsonSchemaText());
process.stdout.write(`export-schema: wrote ${target}\n`);
