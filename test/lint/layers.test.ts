import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The layer rule of eslint.config.js (eslint.layers.js), run on code that is not in the tree:
// an upward or unnamed sideways import must fail `npm run lint`, a downward one must not.
const eslint = new ESLint({ cwd: fileURLToPath(new URL('../..', import.meta.url)) });

async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layers (DESIGN.md) in the lint', () => {
  it('reports an upward import', async () => {
    const errors = await layerErrors('src/store/x.ts', "import { Router } from '../router/router.js';\nvoid Router;\n");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('src/store may not import router');
  });

  it('reports upward type imports, re-exports and imports of top-level modules', async () => {
    expect(await layerErrors('src/store/x.ts', "import type { Router } from '../router/router.js';\n")).toHaveLength(1);
    expect(await layerErrors('src/backfill/x.ts', "export { migrations } from '../schema.js';\n")).toHaveLength(1);
    expect(await layerErrors('src/errors.ts', "export type { Database } from './db/database.js';\n")).toHaveLength(1);
  });

  it('accepts downward imports and the sideways ones DESIGN.md names', async () => {
    expect(await layerErrors('src/store/x.ts', "export type { Database } from '../db/database.js';\n")).toEqual([]);
    expect(await layerErrors('src/store/x.ts', "export { renderSql } from '../source/render.js';\n")).toEqual([]);
    expect(await layerErrors('src/router/x.ts', "export { overlapAtK } from '../eval/metrics.js';\n")).toEqual([]);
    expect(await layerErrors('src/gates/x.ts', "export { runEval } from '../eval/run.js';\n")).toEqual([]);
    expect(await layerErrors('src/telemetry/x.ts', "export { logger } from '../logger.js';\n")).toEqual([]);
    expect(await layerErrors('src/store/x.ts', "export { quoteIdentifier } from './identifiers.js';\n")).toEqual([]);
  });

  it('reports sideways imports DESIGN.md does not name, and migration → backfill', async () => {
    expect(await layerErrors('src/eval/x.ts', "export { compareResults } from '../router/compare.js';\n")).toHaveLength(
      1,
    );
    expect(await layerErrors('src/source/x.ts', "export { storeLayout } from '../store/store.js';\n")).toHaveLength(1);
    // router may use eval's metrics, and nothing else of eval.
    expect(await layerErrors('src/router/x.ts', "export { runEval } from '../eval/run.js';\n")).toHaveLength(1);
    expect(
      await layerErrors('src/migration/x.ts', "export { prepareBackfill } from '../backfill/backfill.js';\n"),
    ).toHaveLength(1);
  });
});

describe('table names in the lint', () => {
  it("reports another folder's table name, not the folder's own", async () => {
    const code = (from: string) => `import { PROFILES_TABLE } from '${from}';\nexport const t = PROFILES_TABLE;\n`;
    const outside = await layerErrors('src/eval/x.ts', code('../store/store.js'));
    expect(outside).toEqual([expect.stringContaining("may not use another folder's table name")]);
    expect(await layerErrors('src/store/x.ts', code('./store.js'))).toEqual([]);
    // Other names from the same module are fine.
    expect(await layerErrors('src/eval/x.ts', "export { storeLayout } from '../store/store.js';\n")).toEqual([]);
  });
});

describe('quoted SQL types in the lint', () => {
  it('allows no cast to SqlIdent or SqlLiteral outside the quoting functions', async () => {
    const code = "import type { SqlIdent } from '../db/identifiers.js';\nexport const t = 'x' as SqlIdent;\n";
    const [outside] = await eslint.lintText(code, { filePath: 'src/store/x.ts' });
    expect(outside!.messages.map((m) => m.ruleId)).toEqual(['no-restricted-syntax']);
    const [inside] = await eslint.lintText(code.replace('../db/', './'), { filePath: 'src/db/identifiers.ts' });
    expect(inside!.messages).toEqual([]);
  });
});

describe('dynamic imports keep to the layers', () => {
  // The rule checks static imports only; lazy `import()` of reembed's own modules (a fast start)
  // must still go only where a static import could. Each one is linted as the static import it
  // stands for, in the file it is in.
  const root = fileURLToPath(new URL('../../src', import.meta.url));
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.d.ts'),
  );
  const dynamic = files.flatMap((file) => {
    const text = readFileSync(join(root, file), 'utf8');
    return [...text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)].map((m) => ({ file, specifier: m[1]! }));
  });

  it('finds the lazy imports (the scan works)', () => {
    expect(dynamic).toContainEqual({ file: join('cli', 'context.ts'), specifier: '../reembed.js' });
    expect(dynamic).toContainEqual({ file: join('db', 'open.ts'), specifier: './pglite.js' });
  });

  it('has no lazy import the layer rule would refuse as a static one', async () => {
    const refused: string[] = [];
    for (const { file, specifier } of dynamic) {
      const errors = await layerErrors(`src/${file}`, `import '${specifier}';\n`);
      refused.push(...errors.map((e) => `src/${file}: import('${specifier}'): ${e}`));
    }
    expect(refused).toEqual([]);
  });

  it('would catch an upward one', async () => {
    expect(await layerErrors('src/store/x.ts', "import '../router/router.js';\n")).toHaveLength(1);
  });
});
