import { seedEvents } from './catalog/seed';
import { UserEntity } from './entities/user.entity';
import { Services } from './graphql/context';
import { logger } from './logger';

export const DEMO_EMAIL = 'demo@sluice.local';
const DEMO_EVENTS = 100_000;

/** On a fresh store: the demo user, a demo dataset of 100 000 events, and how to export it with curl. */
export async function ensureDemo(services: Services, port: number): Promise<void> {
  if ((await services.ds.getRepository(UserEntity).count()) > 0) {
    const demo = await services.ds.getRepository(UserEntity).findOneBy({ email: DEMO_EMAIL });
    if (demo) logger.info(`demo user exists; a new token: npx sluice token create --email ${DEMO_EMAIL}`);
    return;
  }
  const { user, token } = await services.users.createUser(DEMO_EMAIL);
  const dataset = await services.datasets.create('demo', user.id, 'synthetic sensor readings');
  await seedEvents(services.ds, services.config.databaseUrl, { datasetId: dataset.id, events: DEMO_EVENTS });
  const base = `http://localhost:${port}`;
  const mutation = JSON.stringify({
    query: `mutation { createStream(input: { dataRange: { datasets: "${dataset.id}" } }) { responseCode message item { id } } }`,
  });
  const statusQuery = JSON.stringify({ query: 'query Status($id: String!) { me { export(id: $id) { status { status recordsProcessed message } } } }', variables: { id: '<id>' } });
  process.stdout.write(
    [
      '',
      `Demo ready: user ${DEMO_EMAIL}, dataset ${dataset.id} ("demo", ${DEMO_EVENTS} events).`,
      `Token: ${token}`,
      '',
      'Export the demo dataset (prints the export id):',
      `  curl -s ${base}/graphql -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '${mutation}'`,
      'See where it stands (status COMPLETED means ready):',
      `  curl -s ${base}/graphql -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '${statusQuery}'`,
      'Download it once COMPLETED (a second or two later):',
      `  curl -s --compressed -H 'Authorization: Bearer ${token}' ${base}/api/v3/data/exports/<id> -o demo.csv`,
      `Or open ${base}/ in a browser and paste the token.`,
      '',
    ].join('\n') + '\n',
  );
}
