// The DataSource that the TypeORM CLI uses (`npm run typeorm -- migration:run`); the app builds
// the same one through createDataSource so both agree on entities and migrations.
import { entities } from './src/app/entities';
import { createDataSource } from './src/db/data-source';

const url = process.env.DATABASE_URL;
if (!url) {
  throw new Error('Invalid DATABASE_URL: the TypeORM CLI needs DATABASE_URL (npm start uses the embedded server instead)');
}

export default createDataSource({ url, entities, poolSize: 2, applicationName: 'alloy-typeorm-cli' });
