import fs from 'node:fs';
import path from 'node:path';
import { schemaSdl } from '../../src/graphql/emit-schema';

test('schema.graphql is what the type-graphql classes emit (run `npm run schema` after changing them)', async () => {
  const committed = fs.readFileSync(path.join(__dirname, '..', '..', 'schema.graphql'), 'utf8');
  expect(committed).toBe(await schemaSdl());
});

test('the schema has the operations the spec names', async () => {
  // Descriptions aside, and argument lists on one line, as the spec writes them.
  const sdl = (await schemaSdl()).replace(/"""[\s\S]*?"""/g, '').replace(/\(\s+/g, '(').replace(/\s+\)/g, ')');
  for (const op of ['me: User!', 'dataset(id: String!): Dataset', 'estimateExport(input: CreateExportInput!): ExportEstimate!',
    'createExport(input: CreateExportInput!): ExportResponse!', 'createStream(input: CreateExportInput!): ExportResponse!',
    'onExport(id: String!): ExportMutation!', 'createDataset(input: CreateDatasetInput!): DatasetResponse!', 'onDataset(id: String!): DatasetMutation!',
    'exportUpdated(id: String!): DataExport!', 'myExportsUpdated: DataExport!']) {
    expect(sdl).toContain(op);
  }
});
