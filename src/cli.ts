import { parseArgs } from 'node:util';
import { seedEvents } from './catalog/seed';
import { ConfigError, describeSettings, loadConfig } from './config';
import { DatabaseStartError, openDatabase } from './db/data-source';
import { Permission } from './entities/dataset-member.entity';
import { SluiceError } from './errors';
import { serve } from './main';
import { createServices } from './services';
import { runWorker } from './worker';

const USAGE = `Usage: npx sluice <command> [options]   (answers are JSON on stdout)

Commands:
  user create --email E [--admin]                      make a user; prints {"id","email","token"}
  token create --email E                               a new token for a user; prints {"token"}
  dataset create --name N --owner E                    make a dataset owned by E; prints {"id","name"}
  dataset grant --dataset ID --email E --permission P  P is READ, WRITE or MANAGE; prints {"ok":true}
  seed --dataset ID --events N [--metrics M] [--sources S] [--start MS] [--interval MS]
                                                       bulk-load synthetic events; prints {"inserted":N}
  serve                                                the HTTP server (same as npm start)
  worker                                               an export worker, no HTTP
  migrate                                              bring the database schema up to date
  --help                                               this text
`;

class UsageError extends Error {}

function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || !v.trim()) throw new UsageError(`--${name} is required`);
  return v;
}

function positiveInt(values: Record<string, unknown>, name: string, min = 1): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}, not ${JSON.stringify(v)}`);
  }
  return Number(v);
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** Options that take a value: `--events -5` is read as the value -5 (for our own check), not as a flag. */
const VALUE_OPTIONS = ['email', 'name', 'owner', 'dataset', 'permission', 'events', 'metrics', 'sources', 'start', 'interval'];

function joinDashedValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : '';
    if (VALUE_OPTIONS.includes(name) && i + 1 < argv.length && /^-\d/.test(argv[i + 1])) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: joinDashedValues(argv),
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      email: { type: 'string' },
      admin: { type: 'boolean' },
      name: { type: 'string' },
      owner: { type: 'string' },
      dataset: { type: 'string' },
      permission: { type: 'string' },
      events: { type: 'string' },
      metrics: { type: 'string' },
      sources: { type: 'string' },
      start: { type: 'string' },
      interval: { type: 'string' },
    },
  });
  const command = positionals.join(' ');
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n${describeSettings()}\n`);
    return;
  }
  if (command === 'serve') return serve();
  if (command === 'worker') return runWorker();

  const config = loadConfig();
  if (command === 'migrate') {
    const ds = await openDatabase(config.databaseUrl);
    print({ ok: true, migrations: ds.migrations.length });
    await ds.destroy();
    return;
  }
  const known = ['user create', 'token create', 'dataset create', 'dataset grant', 'seed'];
  if (!known.includes(command)) throw new UsageError(`unknown command "${command}": see npx sluice --help`);
  const services = await createServices(config);
  try {
    switch (command) {
      case 'user create': {
        const { user, token } = await services.users.createUser(required(values, 'email'), Boolean(values.admin));
        print({ id: user.id, email: user.email, token });
        break;
      }
      case 'token create': {
        const user = await services.users.findByEmail(required(values, 'email'));
        print({ token: await services.users.createToken(user.id) });
        break;
      }
      case 'dataset create': {
        const owner = await services.users.findByEmail(required(values, 'owner'));
        const dataset = await services.datasets.create(required(values, 'name'), owner.id);
        print({ id: String(dataset.id), name: dataset.name });
        break;
      }
      case 'dataset grant': {
        const permission = required(values, 'permission').toUpperCase();
        if (!(permission in Permission)) throw new UsageError('--permission must be READ, WRITE or MANAGE');
        const id = required(values, 'dataset');
        const dataset = /^\d+$/.test(id) ? await services.datasets.findById(Number(id)) : null;
        if (!dataset) throw new UsageError(`dataset ${id} not found`);
        const user = await services.users.findByEmail(required(values, 'email'));
        await services.datasets.grant(dataset.id, user.id, permission as Permission);
        print({ ok: true });
        break;
      }
      case 'seed': {
        const id = required(values, 'dataset');
        const dataset = /^\d+$/.test(id) ? await services.datasets.findById(Number(id)) : null;
        if (!dataset) throw new UsageError(`dataset ${id} not found`);
        const inserted = await seedEvents(services.ds, config.databaseUrl, {
          datasetId: dataset.id,
          events: positiveInt(values, 'events') ?? (() => { throw new UsageError('--events is required'); })(),
          metrics: positiveInt(values, 'metrics'),
          sources: positiveInt(values, 'sources'),
          startMs: positiveInt(values, 'start', 0),
          intervalMs: positiveInt(values, 'interval'),
        });
        print({ inserted });
        break;
      }
    }
  } finally {
    await services.ds.destroy();
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  const expected = err instanceof UsageError || err instanceof ConfigError || err instanceof SluiceError || err instanceof DatabaseStartError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
  const message = (err as Error).message.split('\n')[0];
  process.stderr.write(`sluice: ${expected ? message : `failed: ${message}`}\n`);
  process.exit(1);
});
