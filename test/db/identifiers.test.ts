import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import {
  ownIdentifier,
  qualifiedName,
  quoteIdentifier,
  schemaObject,
  validateIdentifier,
} from '../../src/db/identifiers.js';
import { IdentifierError } from '../../src/errors.js';
import { renderSql } from '../../src/source/render.js';
import { BACKENDS, openTestDatabase } from '../helpers/databases.js';

const HOSTILE = [
  'docs; DROP TABLE reembed.documents; --',
  'docs"; DROP TABLE x; --',
  "docs' OR '1'='1",
  'a b',
  'a.b.c',
  '1abc',
  'x\u0000y',
  'tab\tname',
  'ünïcode',
  'a'.repeat(64),
  '',
];

describe('identifier validation', () => {
  it.each(HOSTILE)('refuses %j', (name) => {
    expect(() => validateIdentifier(name, 'column')).toThrow(IdentifierError);
  });

  it('quotes plain identifiers, keeping case and reserved words usable', () => {
    expect(quoteIdentifier('user')).toBe('"user"');
    expect(quoteIdentifier('Title_2$')).toBe('"Title_2$"');
    expect(qualifiedName('docs')).toMatchObject({ schema: 'public', table: 'docs', sql: '"public"."docs"' });
    expect(qualifiedName('app.Docs').sql).toBe('"app"."Docs"');
    expect(() => qualifiedName('a.b.c')).toThrow(/must be "table" or "schema.table"/);
    expect(() => qualifiedName('app.docs;drop')).toThrow(IdentifierError);
  });

  it("splices reembed's own names unquoted only when they are lower-case plain identifiers", () => {
    expect(schemaObject('profiles')).toBe('reembed.profiles');
    expect(ownIdentifier('id')).toBe('id');
    for (const name of [...HOSTILE, 'Profiles', 'user$']) {
      expect(() => ownIdentifier(name)).toThrow(IdentifierError);
    }
  });
});

describe.each(BACKENDS)('identifiers against %s', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await db.exec('CREATE TABLE "public"."user" ("select" text, "Title" text, id int)');
    await db.exec(`INSERT INTO "public"."user" VALUES ('a''b', 'T', 1)`);
  });
  afterAll(() => db.close());

  it('renders a template over reserved-word and mixed-case columns', async () => {
    const expr = renderSql("{Title} — {select} '{{x}}'", 'u');
    const { rows } = await db.query<{ t: string }>(`SELECT ${expr} AS t FROM "public"."user" AS u`);
    expect(rows[0]!.t).toBe("T — a'b '{x}'");
  });

  it('never reaches the database with a hostile template column', async () => {
    expect(() => renderSql('{id"); DROP TABLE reembed.documents; --}', 'u')).toThrow();
    const { rows } = await db.query(
      "SELECT 1 FROM information_schema.tables WHERE table_schema = 'reembed' AND table_name = 'documents'",
    );
    expect(rows).toHaveLength(1);
  });
});

describe.each(BACKENDS)('rendering settings on %s', (backend) => {
  it('pins the settings that change how values render as text, on every connection', async () => {
    const db = await openTestDatabase(backend);
    try {
      // Several queries at once use several pooled connections on a server.
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          db.query<{ tz: string; ds: string; t: string }>(
            "SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, '2026-01-02 03:04:05+02'::timestamptz::text AS t",
          ),
        ),
      );
      for (const r of results) expect(r.rows[0]).toEqual({ tz: 'UTC', ds: 'ISO, MDY', t: '2026-01-02 01:04:05+00' });
    } finally {
      await db.close();
    }
  });
});
