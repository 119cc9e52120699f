// ternctl's entry point: run one command line and exit with its code.
import { runCli } from './program.js';

process.exitCode = await runCli({ args: process.argv.slice(2) });
