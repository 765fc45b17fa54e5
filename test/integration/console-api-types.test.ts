import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { adminOpenApiDocument, consoleApiFiles, fieldLimits } from '../../scripts/openapi-types/generate.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The console's API types and field limits are generated from the admin API's OpenAPI
 * document (scripts/openapi-types/generate.ts). Changing the admin API's schemas without
 * running `npm run generate:api-types` fails here, so the console cannot drift from the server.
 */
describe("the console's generated admin API types", () => {
  test('the committed files are what the current OpenAPI document generates', async () => {
    for (const file of await consoleApiFiles(await adminOpenApiDocument())) {
      expect(readFileSync(`${root}${file.path}`, 'utf8'), `${file.path} is stale: run npm run generate:api-types and commit the result`).toBe(file.text);
    }
  });

  test('limits are read from each property, and from the non-null branch of a nullable one', () => {
    const doc = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      components: {
        schemas: {
          B: { type: 'object', properties: { ttl: { anyOf: [{ type: 'integer', minimum: 60, maximum: 600 }, { type: 'null' }] }, free: { type: 'string' } } },
          A: { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, n: { type: ['integer', 'null'], maximum: 9 } } },
        },
      },
    } as const;
    const limits = fieldLimits(doc as unknown as Parameters<typeof fieldLimits>[0]);
    expect(limits).toEqual({ A: { n: { maximum: 9 }, name: { minLength: 1, maxLength: 200 } }, B: { ttl: { minimum: 60, maximum: 600 } } });
    expect(Object.keys(limits)).toEqual(['A', 'B']);
  });
});
