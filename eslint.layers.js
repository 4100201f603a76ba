import { readdirSync } from 'node:fs';
import { URL } from 'node:url';

/**
 * The layers of DESIGN.md ("Layers"), enforced by ESLint's own `no-restricted-imports`.
 *
 * Why this rule and not a plugin: every module lives at `src/<folder>/<file>.ts` or
 * `src/<file>.ts` and imports its neighbours by relative paths, so the folder an import
 * reaches is visible in its specifier (`../router/router.js`). A regex per forbidden folder
 * is exact enough, needs no new dependency (eslint-plugin-boundaries or eslint-plugin-import
 * would add a plugin with its own import resolver to configure and keep in step with ESLint),
 * and the table below is the whole policy, read in one place. Dynamic `import()` is not checked
 * by the rule; src uses it for packages and for its own modules that a command may not need
 * (lazy loading for a fast start: the CLI loads the facade, the facade its parts, db/open.ts a
 * driver), and only along the layers, as a static import would.
 *
 * A module may import its own folder, the layers below its own, and the modules beside it
 * that BESIDE names. NEVER lists imports DESIGN.md forbids although the layer order alone
 * would allow them.
 */

/** Top to bottom. Folders are names; top-level modules are `<name>.ts`. */
export const LAYERS = [
  ['cli', 'server', 'demo'],
  ['reembed.ts', 'facade', 'index.ts', 'internals.ts', 'schema.ts'],
  ['gates'],
  ['eval', 'router'],
  ['telemetry'],
  ['migration'],
  ['backfill'],
  ['store', 'source', 'embedders'],
  ['config', 'db'],
  // DESIGN.md puts the small shared modules beside config/ and db/; both use them, so they
  // are the floor. The logger is one of them: every layer logs.
  ['errors.ts', 'backoff.ts', 'random.ts', 'version.ts', 'logger.ts', 'redact.ts', 'percent.ts'],
];

const FACADE = LAYERS[1];

/** Sideways imports DESIGN.md names: a folder, or one module of it (`folder/module.ts`). */
export const BESIDE = {
  // `router` may use eval's pure metric functions (overlap, RBO), and nothing else of eval.
  router: ['eval/metrics.ts'],
  // `store` may read source's rendering (content hash, text templates).
  store: ['source'],
  // Capture reads which profiles capture from the profiles registry the store owns
  // (store/registry.ts): the one table both sides need.
  source: ['store/registry.ts'],
  // `reembed serve` starts the HTTP server through its one entry point for the CLI.
  cli: ['server/serve.ts', 'server/defaults.ts'],
  // Every log line goes through the same redaction as messages.
  'logger.ts': ['redact.ts'],
  // The facade is one unit: index.ts re-exports the facade, which opens the schema.
  ...Object.fromEntries(FACADE.map((m) => [m, FACADE.filter((n) => n !== m)])),
};

/** Downward imports DESIGN.md still forbids. */
export const NEVER = {
  // The lifecycle asks for backfill planning through a hook in its context (BackfillPlanner).
  migration: ['backfill'],
};

/**
 * TODO(facade): the shells must call only the facade (DESIGN.md: "they call only the facade
 * (and format)"), and open.ts/index.ts are being replaced by src/reembed.ts. Until that
 * rewrite is merged, these modules keep the imports they have today: everything below
 * them, and index.ts re-exports of the demo. Tighten to SHELL_TARGET after the merge.
 */
export const TODO_ALLOWED = {
  // The unstable internals re-export the demo and its fault injection.
  'internals.ts': ['demo'],
  cli: ['demo'],
};
/**
 * Shells that import only SHELL_TARGET (the facade and the shared modules). TODO: the demo
 * still drives the router, the controller and fault injection directly; add it once it runs
 * on the facade.
 */
export const SHELLS_FACADE_ONLY = ['cli', 'server'];
export const SHELL_TARGET = [...FACADE, ...LAYERS[LAYERS.length - 1]];

/**
 * A table's name (a `*_TABLE` constant) stays in the folder that owns the table's SQL (DESIGN.md:
 * "SQL kept next to the code that owns the table"); others call that folder's functions.
 * The exceptions left, each a join or a key on another folder's table:
 */
export const TABLES_FROM = {
  // The capture queue (source/capture.ts): workers lease, retry and dead-letter its rows.
  backfill: ['source'],
  // Ticks and measurements reference their migration (foreign keys).
  gates: ['migration'],
  // Retention keeps the serving windows of migrations in the phases gates measure.
  telemetry: ['migration'],
  // TODO(facade): the commands read profiles, queue and failures; store/registry.ts and the
  // facade take that SQL over.
  cli: ['store', 'source', 'backfill'],
};

function layerOf(name) {
  const i = LAYERS.findIndex((layer) => layer.includes(name));
  if (i < 0) throw new Error(`eslint.layers.js: ${name} is in no layer of DESIGN.md; add it to LAYERS`);
  return i;
}

/** What `name` may not import, each with the reason. */
export function forbidden(name) {
  const own = layerOf(name);
  const allowed = new Set([...(BESIDE[name] ?? []), ...(TODO_ALLOWED[name] ?? [])]);
  // Modules of a folder beside it that DESIGN.md names one by one, e.g. eval/metrics.ts.
  const modulesOf = (target) =>
    [...allowed].filter((a) => a.startsWith(`${target}/`)).map((a) => a.slice(target.length + 1, -3));
  const out = [];
  for (const [i, layer] of LAYERS.entries()) {
    for (const target of layer) {
      if (target === name || allowed.has(target)) continue;
      if (i < own) out.push({ target, why: `${target} is in layer ${i + 1}, above layer ${own + 1}` });
      else if (i === own && modulesOf(target).length)
        out.push({
          target,
          except: modulesOf(target),
          why: `${target} is beside it and DESIGN.md names only ${modulesOf(target).map((m) => `${target}/${m}.ts`)}`,
        });
      else if (i === own)
        out.push({ target, why: `${target} is beside it (layer ${i + 1}) and DESIGN.md does not name it` });
      else if (SHELLS_FACADE_ONLY.includes(name) && !SHELL_TARGET.includes(target))
        out.push({ target, why: `a shell calls only the facade` });
      else if (NEVER[name]?.includes(target))
        out.push({ target, why: `DESIGN.md forbids it although it is below (NEVER)` });
    }
  }
  return out;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The specifier of an import of `target` (but its modules `except`) from a module of `name`'s directory. */
function specifierRegex(name, target, except = []) {
  // From src/<folder>/x.ts a neighbour is `../<target>`; from src/x.ts it is `./<target>`.
  const up = name.endsWith('.ts') ? '\\./' : '(\\.\\./)+';
  const but = except.length ? `(?!(${except.map(escape).join('|')})\\.js$)` : '';
  const tail = target.endsWith('.ts') ? `${escape(target.slice(0, -3))}\\.js$` : `${escape(target)}(/${but}|$)`;
  return `^${up}${tail}`;
}

/** Every folder and module of src must be placed in a layer, so a new one cannot slip past the rule. */
function checkPlaced() {
  const unplaced = readdirSync(new URL('./src', import.meta.url)).filter(
    (entry) => !entry.endsWith('.d.ts') && !LAYERS.flat().includes(entry),
  );
  if (unplaced.length) {
    throw new Error(`eslint.layers.js: src/${unplaced.join(', src/')} is in no layer; add it to LAYERS`);
  }
}

/** Imports of another folder's table names, but for TABLES_FROM. */
function tablePattern(name) {
  const own = name.endsWith('.ts') ? [] : [name];
  const allowed = [...own, ...(TABLES_FROM[name] ?? [])].map(escape);
  const up = name.endsWith('.ts') ? '\\./' : '(\\.\\./)+';
  const except = allowed.length ? `(?!(${allowed.join('|')})/)` : '';
  return {
    regex: `^${up}${except}[^./][^/]*/`,
    importNamePattern: '^[A-Z][A-Z_]*_TABLE$',
    message: `src/${name} may not use another folder's table name: call a function of the folder that owns the table (eslint.layers.js, TABLES_FROM).`,
  };
}

/** One flat-config block per layered module, each with its own `no-restricted-imports`. */
export function layerConfigs() {
  checkPlaced();
  return LAYERS.flat().map((name) => ({
    files: [name.endsWith('.ts') ? `src/${name}` : `src/${name}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbidden(name).map(({ target, except, why }) => ({
              regex: specifierRegex(name, target, except),
              message: `src/${name} may not import ${target}: ${why}. See DESIGN.md, Layers, and eslint.layers.js.`,
            })),
            // TODO(facade): open.ts and index.ts import and re-export whole modules (`* as
            // lifecycle`), which the name pattern cannot look into; check reembed.ts after the merge.
            ...(FACADE.includes(name) ? [] : [tablePattern(name)]),
          ],
        },
      ],
    },
  }));
}
