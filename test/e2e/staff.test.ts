import { STORE, TestServer, TestStore, waitForExport } from './harness';
import { createExport, historyOf } from './delivery-support';

const HEAVY = {
  fields: ['timestamp', 'dataset', 'metric', 'producer', 'source', 'value', 'tags', 'location', 'geohash', 'elevation', 'tsReceived'],
  timestampFormat: 'ISO8601', timeZone: 'Europe/Paris', timestampPrecision: 'MICROSECONDS',
};
const ADMIN_EXPORTS = `query ($email: String, $filter: DataExportFilter) { adminExports(userEmail: $email, filter: $filter) { count cursor items { id name user { email } status { status message } } } }`;

describe(`staff on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let admin: string;
  let alice: { token: string; dataset: string };
  let bob: { token: string; dataset: string };

  beforeAll(async () => {
    await store.create();
    alice = await store.seededUser('alice@example.com', 150_000);
    bob = await store.seededUser('bob@example.com', 100, 'bobs');
    admin = (await store.cli<{ token: string }>(['user', 'create', '--email', 'staff@example.com', '--admin'])).token;
    server = new TestServer(store);
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  test('adminExports lists everyone\'s exports for an administrator, filtered by user and status; for anyone else it is FORBIDDEN', async () => {
    const a = await createExport(server, alice.token, { name: 'alice small', dataRange: { datasets: [alice.dataset] }, limit: 10 });
    const b = await createExport(server, bob.token, { name: 'bob small', dataRange: { datasets: [bob.dataset] } });
    await waitForExport(server, alice.token, a);
    await waitForExport(server, bob.token, b);
    const all = await server.data(ADMIN_EXPORTS, {}, admin);
    expect(all.adminExports.count).toBe(2);
    expect(all.adminExports.items.map((e: any) => [e.name, e.user.email]).sort()).toEqual([['alice small', 'alice@example.com'], ['bob small', 'bob@example.com']]);
    const bobs = await server.data(ADMIN_EXPORTS, { email: 'bob@example.com', filter: { status: { _in: ['COMPLETED'] } } }, admin);
    expect(bobs.adminExports.items.map((e: any) => e.id)).toEqual([b]);
    expect((await server.data(ADMIN_EXPORTS, { email: 'nobody@example.com' }, admin)).adminExports).toEqual({ count: 0, cursor: null, items: [] });

    const refused = await server.gql(ADMIN_EXPORTS, {}, alice.token);
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors?.[0]).toMatchObject({ message: 'adminExports is for administrators (users made with `sluice user create --admin`)', extensions: { code: 'FORBIDDEN' } });
  });

  test('an administrator reads and cancels anyone\'s export with a reason; other users still get NOT_FOUND', async () => {
    const id = await createExport(server, alice.token, { name: 'alice big', dataRange: { datasets: [alice.dataset] }, ...HEAVY });
    await waitForExport(server, alice.token, id, ['GENERATING']);
    const seen = await server.data(`query ($id: String!) { me { export(id: $id) { id name user { email } } } }`, { id }, admin);
    expect(seen.me.export).toEqual({ id, name: 'alice big', user: { email: 'alice@example.com' } });

    const byBob = await server.data(`mutation ($id: String!) { onExport(id: $id) { cancel(reason: "mine now") { responseCode message } } }`, { id }, bob.token);
    expect(byBob.onExport.cancel).toEqual({ responseCode: 'NOT_FOUND', message: `export ${id} not found` });
    const bobReads = await server.gql(`query ($id: String!) { me { export(id: $id) { id } } }`, { id }, bob.token);
    expect(bobReads.body.errors?.[0]).toMatchObject({ message: `export ${id} not found`, extensions: { code: 'NOT_FOUND' } });

    const cancel = await server.data(`mutation ($id: String!) { onExport(id: $id) { cancel(reason: "too large for the shared disk") { responseCode message item { status { status message } } } } }`, { id }, admin);
    expect(cancel.onExport.cancel).toEqual({ responseCode: 'SUCCESS', message: null, item: { status: { status: 'CANCELLED', message: 'cancelled by an administrator: too large for the shared disk' } } });
    const asAlice = await waitForExport(server, alice.token, id, ['CANCELLED']);
    expect(asAlice.status.message).toBe('cancelled by an administrator: too large for the shared disk');
    const history = await historyOf(server, alice.token, id);
    expect(history[history.length - 1]).toMatchObject({ type: 'CANCELLED', message: 'cancelled by an administrator: too large for the shared disk' });
  });

  test('an administrator can make a download link for anyone\'s finished export', async () => {
    const id = await createExport(server, bob.token, { dataRange: { datasets: [bob.dataset] } });
    const done = await waitForExport(server, bob.token, id);
    const link = await server.data(`mutation ($id: String!) { onExport(id: $id) { createDownloadLink { responseCode link } } }`, { id }, admin);
    expect(link.onExport.createDownloadLink.responseCode).toBe('SUCCESS');
    const res = await fetch(`${server.url}${link.onExport.createDownloadLink.link}`);
    expect(res.status).toBe(200);
    expect((await res.text()).split('\n').length - 2).toBe(done.status.recordsProcessed);
  });
});
