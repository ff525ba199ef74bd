import 'reflect-metadata';
import { DataSource, DataSourceOptions as TypeOrmOptions } from 'typeorm';
import { migrations } from './migrations';

export interface DataSourceOptions {
  url: string;
  /** The entity classes (src/app/entities.ts): the capabilities' tables, listed by the composition root. */
  entities: NonNullable<TypeOrmOptions['entities']>;
  /** Pool size; the gateway and the worker share one pool per process. */
  poolSize?: number;
  applicationName?: string;
}

export function createDataSource({ url, entities, poolSize = 10, applicationName = 'alloy-gateway' }: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'typeorm_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    extra: {
      max: poolSize,
      application_name: applicationName,
      connectionTimeoutMillis: 5000,
      // Don't let one stuck statement hold a pooled connection forever.
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 60_000,
      // A statement whose process died (its connection closed) is abandoned within a second instead
      // of running on: an upload's commit is one autocommitted statement, and one that waits for a
      // lock when its gateway is killed must not complete after it (uploads.ts, upload-crash test).
      // Postgres only looks at the connection when it has a result to send otherwise.
      options: '-c client_connection_check_interval=1000',
    },
  });
}

/** Opens the data source and applies pending migrations; returns the names applied. */
export async function openDatabase(options: DataSourceOptions): Promise<{ dataSource: DataSource; applied: string[] }> {
  const dataSource = createDataSource(options);
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return { dataSource, applied: applied.map((m) => m.name) };
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}
