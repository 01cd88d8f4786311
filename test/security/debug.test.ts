import { TestServer, TestStore } from '../e2e/harness';
import { wideOr } from './support';
test('debug', async () => {
  const store = new TestStore('sqlite');
  await store.create();
  const { token, dataset } = await store.seededUser('ana@example.com', 200_000);
  const server = new TestServer(store);
  await server.start();
  for (let i = 0; i < 3; i++) {
    const t = Date.now();
    const r = await server.gql('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: [dataset] }, filter: wideOr(20000) } }, token);
    console.log('refused one', Date.now() - t, r.status);
  }
  const t = Date.now();
  const rs = await Promise.all(Array.from({ length: 12 }, () => server.gql('query($i: CreateExportInput!) { estimateExport(input: $i) { records } }', { i: { dataRange: { datasets: [dataset] }, filter: wideOr(999) } }, token)));
  console.log('heavy', Date.now() - t, JSON.stringify(rs.map((r) => r.body.data ?? r.body.errors)));
  await server.stop();
  console.log(server.logs.split('\n').filter((l) => /error|warn/i.test(l)).join('\n').slice(0, 3000));
  await store.drop();
});
