/**
 * The reembed CLI as bench/ compiles it: the same `main` that bin/reembed.js runs from dist/,
 * built from the same sources as the benchmark itself, so a child process measures the code
 * under test even when dist/ is stale.
 */
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
