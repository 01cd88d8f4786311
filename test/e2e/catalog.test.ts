import { STORE, TestServer, TestStore, waitFor, waitForExport } from './harness';

describe(`datasets, members, paging and query limits on ${STORE}`, () => {
  const store = new TestStore();
  let server: TestServer;
  let ana: string;
  let bo: string;

  beforeAll(async () => {
    await store.create();
    ana = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    bo = (await store.cli<{ token: string }>(['user', 'create', '--email', 'bo@example.com'])).token;
    server = new TestServer(store);
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await store.drop();
  });

  const createDataset = async (name: string, token = ana) =>
    (await server.data('mutation($i: CreateDatasetInput!) { createDataset(input: $i) { responseCode message item { id name description metrics { id } } } }', { i: { name, description: `about ${name}` } }, token)).createDataset;

  test('createDataset, dataset(id) with its metrics, and members with permissions', async () => {
    const made = await createDataset('plant-7');
    expect(made).toMatchObject({ responseCode: 'SUCCESS', item: { name: 'plant-7', description: 'about plant-7', metrics: [] } });
    const id = made.item.id;
    const ingest = (token: string) =>
      fetch(`${server.url}/api/v3/data/ingest/${id}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify([{ timestamp: 1_700_000_000_000, metric: 'rpm::number', value: 1200 }]) });
    expect((await ingest(ana)).status).toBe(204);
    const read = await server.data('query($id: String!) { dataset(id: $id) { id name metrics { id lastUpdate } } }', { id }, ana);
    expect(read.dataset).toEqual({ id, name: 'plant-7', metrics: [{ id: 'rpm::number', lastUpdate: 1_700_000_000_000 }] });

    const member = (email: string, permission: string, token = ana) =>
      server.data(`mutation($id: String!, $e: String!, $p: Permission!) { onDataset(id: $id) { addMember(email: $e, permission: $p) { responseCode message } } }`, { id, e: email, p: permission }, token).then((d) => d.onDataset.addMember);
    expect(await member('bo@example.com', 'READ')).toMatchObject({ responseCode: 'SUCCESS', message: `bo@example.com now has READ on dataset ${id}` });
    expect((await server.data('query($id: String!) { dataset(id: $id) { name } }', { id }, bo)).dataset.name).toBe('plant-7');
    // READ is not enough to write or to manage.
    const refused = await ingest(bo);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).error.message).toBe(`you have READ on dataset ${id}; this needs WRITE`);
    expect(await member('ana@example.com', 'READ', bo)).toEqual({ responseCode: 'NOT_AUTHORIZED', message: `you have READ on dataset ${id}; this needs MANAGE` });
    expect(await member('nobody@example.com', 'READ')).toEqual({ responseCode: 'NOT_FOUND', message: 'no user with email nobody@example.com' });
    expect(await member('bo@example.com', 'WRITE')).toMatchObject({ responseCode: 'SUCCESS' });
    expect((await ingest(bo)).status).toBe(204);

    const remove = await server.data('mutation($id: String!) { onDataset(id: $id) { removeMember(email: "bo@example.com") { responseCode message } } }', { id }, ana);
    expect(remove.onDataset.removeMember).toEqual({ responseCode: 'SUCCESS', message: `bo@example.com removed from dataset ${id}` });
    const gone = await server.gql('query($id: String!) { dataset(id: $id) { name } }', { id }, bo);
    expect(gone.body.errors?.[0]).toMatchObject({ message: `dataset ${id} not found or not readable`, extensions: { code: 'NOT_FOUND' } });
    expect((await createDataset('  ')).responseCode).toBe('BAD_REQUEST');
  });

  test('me.datasets and me.exports page with cursors; exports filter on status, name and requestedOn', async () => {
    for (const name of ['a', 'b', 'c']) await createDataset(`page-${name}`, bo);
    const first = await server.data('{ me { datasets(limit: 2) { items { name } cursor count } } }', {}, bo);
    expect(first.me.datasets).toMatchObject({ items: [{ name: 'page-a' }, { name: 'page-b' }], count: 3 });
    const second = await server.data('query($c: String) { me { datasets(limit: 2, cursor: $c) { items { name } cursor count } } }', { c: first.me.datasets.cursor }, bo);
    expect(second.me.datasets).toEqual({ items: [{ name: 'page-c' }], cursor: null, count: 3 });

    const dataset = (await createDataset('exports-here', bo)).item.id;
    const ids: string[] = [];
    for (const name of ['daily', 'weekly', 'daily-2']) {
      const d = await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id requestedOn } } }', { i: { name, dataRange: { datasets: dataset } } }, bo);
      ids.push(d.createExport.item.id);
      await waitForExport(server, bo, d.createExport.item.id);
    }
    await server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { name: 'never', dataRange: { datasets: dataset }, filter: { value: { _gt: 1 } } } }, bo);
    const page = (cursor?: string, filter?: unknown) =>
      server.data('query($c: String, $f: DataExportFilter) { me { exports(limit: 2, cursor: $c, filter: $f) { items { name requestedOn } cursor count } } }', { c: cursor, f: filter }, bo).then((d) => d.me.exports);
    const p1 = await page();
    expect(p1.count).toBe(4);
    expect(p1.items.map((e: any) => e.name)).toEqual(['never', 'daily-2']);
    const p2 = await page(p1.cursor);
    expect(p2.items.map((e: any) => e.name)).toEqual(['weekly', 'daily']);
    expect(p2.cursor).toBeNull();
    expect((await page(undefined, { name: { _regex: '^daily' } })).items.map((e: any) => e.name)).toEqual(['daily-2', 'daily']);
    expect((await page(undefined, { status: { _in: ['COMPLETED'] }, name: { _regex: 'eekly$' } })).items.map((e: any) => e.name)).toEqual(['weekly']);
    const since = p2.items[0].requestedOn;
    expect((await page(undefined, { requestedOn: { _gte: since, _lt: p1.items[1].requestedOn } })).items.map((e: any) => e.name)).toEqual(['weekly']);
    const bad = await server.gql('{ me { exports(filter: { name: { _regex: "(" } }) { count } } }', {}, bo);
    expect(bad.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/not a valid regular expression/), extensions: { code: 'BAD_REQUEST' } });
    const tooBig = await server.gql('{ me { exports(limit: 5000) { count } } }', {}, bo);
    expect(tooBig.body.errors?.[0].message).toBe('limit must be from 1 to 1000, not 5000');
  });

  test('too deep or too costly queries are refused with a clear message, and no internals leak', async () => {
    const deep = await server.gql('{ me { exports { items { user { exports { items { user { exports { items { user { exports { items { id } } } } } } } } } } } } }', {}, ana);
    expect(deep.status).toBe(400);
    expect(deep.body.errors?.[0].message).toMatch(/levels deep; at most 12 are allowed/);
    const costly = await server.gql('{ me { exports(limit: 1000) { items { dataRange { datasets { metrics { id lastUpdate } } } user { datasets(limit: 1000) { items { metrics { id } } } } } } } }', {}, ana);
    expect(costly.status).toBe(400);
    expect(costly.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/costs \d+ points; at most 20000 are allowed/), extensions: { code: 'QUERY_TOO_COMPLEX' } });
    const typo = await server.gql('{ me { idd } }', {}, ana);
    expect(typo.status).toBe(400);
    expect(JSON.stringify(typo.body)).not.toMatch(/stack|node_modules|SELECT/);
  });
});

describe(`download answers for unfinished and expired exports on ${STORE}`, () => {
  const store = new TestStore();
  let token: string;
  let dataset: string;

  beforeAll(async () => {
    await store.create();
    token = (await store.cli<{ token: string }>(['user', 'create', '--email', 'ana@example.com'])).token;
    dataset = (await store.cli<{ id: string }>(['dataset', 'create', '--name', 'd', '--owner', 'ana@example.com'])).id;
    await store.cli(['seed', '--dataset', dataset, '--events', '100']);
  });

  afterAll(() => store.drop());

  const create = (server: TestServer) =>
    server.data('mutation($i: CreateExportInput!) { createExport(input: $i) { item { id } } }', { i: { dataRange: { datasets: dataset } } }, token).then((d) => d.createExport.item.id as string);
  const get = (server: TestServer, id: string) => fetch(`${server.url}/api/v3/data/exports/${id}`, { headers: { authorization: `Bearer ${token}` } });

  test('409 while not finished, naming the status; no download link either', async () => {
    const server = new TestServer(store, { EXPORT_WORKERS: '0' });
    await server.start();
    try {
      const id = await create(server);
      const res = await get(server, id);
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({ error: { status: 409, message: `export ${id} is QUEUING; it can be downloaded once COMPLETED` } });
      const link = await server.data('mutation($id: String!) { onExport(id: $id) { createDownloadLink { responseCode message link } } }', { id }, token);
      expect(link.onExport.createDownloadLink).toEqual({ responseCode: 'BAD_REQUEST', message: `export ${id} is QUEUING; it can be downloaded once COMPLETED`, link: null });
    } finally {
      await server.stop();
    }
  });

  test('410 once the retention has passed, with expiresOn telling when', async () => {
    const server = new TestServer(store, { EXPORT_RETENTION: '2s' });
    await server.start();
    try {
      const id = await create(server);
      const done = await waitForExport(server, token, id);
      expect((await get(server, id)).status).toBe(200);
      const { me } = await server.data('query($id: String!) { me { export(id: $id) { result { completedOn expiresOn } } } }', { id }, token);
      expect(me.export.result.expiresOn - me.export.result.completedOn).toBe(2000);
      expect(done.result.sha256).toMatch(/^[0-9a-f]{64}$/);
      await waitFor(async () => Date.now() > me.export.result.expiresOn, 'the retention to pass', 5000, 100);
      const res = await get(server, id);
      expect(res.status).toBe(410);
      expect(((await res.json()) as any).error.message).toMatch(new RegExp(`export ${id} expired on .* and its file was deleted; export again`));
    } finally {
      await server.stop();
    }
  });
});
