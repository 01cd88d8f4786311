// The DataSource the TypeORM migration CLI uses: `npx typeorm -d dist/ormconfig.js migration:show`.
import { createDataSource } from './src/db/data-source';

export default createDataSource(process.env.DATABASE_URL ?? 'sqlite:./data/sluice.sqlite');
