import fs from 'node:fs';
import path from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildSluiceSchema } from './schema';

export async function schemaSdl(): Promise<string> {
  return `${printSchema(lexicographicSortSchema(await buildSluiceSchema()))}\n`;
}

/** `npm run schema`: writes schema.graphql at the top of the repo (committed; a test fails when it is stale). */
if (require.main === module) {
  void schemaSdl().then((sdl) => {
    fs.writeFileSync(path.join(__dirname, '..', '..', '..', 'schema.graphql'), sdl);
    console.log('schema.graphql written');
  });
}
