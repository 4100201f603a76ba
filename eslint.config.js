import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layerConfigs } from './eslint.layers.js';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'node_modules/', '.reembed/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // SqlIdent and SqlLiteral (src/db/identifiers.ts, src/db/sql.ts) mean "quoted by a quoting
  // function": a cast anywhere else would make a raw string look quoted.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/db/identifiers.ts', 'src/db/sql.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            ':matches(TSAsExpression, TSTypeAssertion) > TSTypeReference.typeAnnotation[typeName.name=/^Sql(Ident|Literal)$/]',
          message:
            'Only the quoting functions of src/db/identifiers.ts and src/db/sql.ts make an SqlIdent or SqlLiteral.',
        },
      ],
    },
  },
  // DESIGN.md's layers: an upward or unnamed sideways import is an error (see eslint.layers.js).
  ...layerConfigs(),
);
