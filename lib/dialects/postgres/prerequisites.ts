import type { DataSource, QueryRunner } from 'typeorm';
import { schemaOf, syncedSchemas } from '../../schemas';
import type { Logger } from '../../logger';
import { isRetryableSyncError } from './classify';
import { Queryable, qualified, runSql } from '../../query';
import { refuseForeignObjects } from './ownership';
import type { OwnedObject } from './ownership-sql';
import {
  createExtensionSql,
  createSchemaSql,
  createSequenceSql,
  missingExtensionsSql,
  missingSchemasSql,
  missingSequencesSql,
  releaseSavepointSql,
  rollbackToSavepointSql,
  savepointSql,
} from './sync-sql';

/**
 * An entity class may name the sequence its id is drawn from, as Celery's
 * tables do (`task_id_sequence`). TypeORM has no notion of free-standing
 * sequences, so the synchronizer creates them, under the lock, before the tables.
 */
export interface SequencedEntityClass {
  readonly idSequence?: string;
}

export interface EntitySequence {
  schema: string;
  name: string;
  /** The quoted, qualified table that draws from it: its owner may own the sequence too (Celery made both). */
  table: string;
}

export function entitySequences(dataSource: DataSource): EntitySequence[] {
  const found = new Map<string, EntitySequence>();
  for (const metadata of dataSource.entityMetadatas) {
    if (!metadata.synchronize || typeof metadata.target !== 'function') continue;
    const name = (metadata.target as SequencedEntityClass).idSequence;
    if (typeof name !== 'string') continue;
    const schema = schemaOf(dataSource, metadata);
    if (!found.has(`${schema}.${name}`)) found.set(`${schema}.${name}`, { schema, name, table: qualified(schema, metadata.tableName) });
  }
  return [...found.values()];
}

interface ExtensionFlags {
  hasUuidColumns?: boolean;
  hasCitextColumns?: boolean;
  hasHstoreColumns?: boolean;
  hasCubeColumns?: boolean;
  hasGeometryColumns?: boolean;
  hasLtreeColumns?: boolean;
  hasVectorColumns?: boolean;
  hasExclusionConstraints?: boolean;
}

/** The extensions TypeORM's PostgresDriver would install at connect time, outside any lock. */
async function wantedExtensions(dataSource: DataSource): Promise<string[]> {
  const options = dataSource.options as { installExtensions?: boolean; uuidExtension?: string; extensions?: string[] };
  const driver = dataSource.driver as unknown as { checkMetadataForExtensions?: () => Promise<ExtensionFlags> };
  const flags: ExtensionFlags = (await driver.checkMetadataForExtensions?.()) ?? {};
  const wanted = [
    flags.hasUuidColumns && (options.uuidExtension ?? 'uuid-ossp'),
    flags.hasCitextColumns && 'citext',
    flags.hasHstoreColumns && 'hstore',
    flags.hasGeometryColumns && 'postgis',
    flags.hasCubeColumns && 'cube',
    flags.hasLtreeColumns && 'ltree',
    flags.hasVectorColumns && 'vector',
    flags.hasExclusionConstraints && 'btree_gist',
    ...(options.extensions ?? []),
  ];
  return [...new Set(wanted.filter((e): e is string => typeof e === 'string'))];
}

/** The id sequences as objects that must be the package's (or the table owner's) before anything draws from them. */
export function sequenceObjects(sequences: readonly EntitySequence[]): OwnedObject[] {
  return sequences.map((s) => ({ kind: 'sequence', name: qualified(s.schema, s.name), beside: s.table }));
}

/** What TypeORM's schema builder assumes exists and would not create itself: found missing by {@link findMissingPrerequisites}. */
export interface MissingPrerequisites {
  schemas: string[];
  extensions: string[];
  sequences: { schema: string; name: string }[];
}

/** Reads, without changing anything, which entity schemas, extensions and id sequences are missing. */
export async function findMissingPrerequisites(runner: Queryable, dataSource: DataSource): Promise<MissingPrerequisites> {
  const schemas = await runSql<{ name: string }>(runner, missingSchemasSql(syncedSchemas(dataSource)));
  const wanted = (dataSource.options as { installExtensions?: boolean }).installExtensions === false ? [] : await wantedExtensions(dataSource);
  const extensions = wanted.length ? await runSql<{ name: string }>(runner, missingExtensionsSql(wanted)) : [];
  const sequences = entitySequences(dataSource);
  const missingSequences = sequences.length ? await runSql<{ schema: string; name: string }>(runner, missingSequencesSql(sequences)) : [];
  return { schemas: schemas.map((r) => r.name), extensions: extensions.map((r) => r.name), sequences: missingSequences };
}

/** The statements that create what is missing, in the order they must run. */
export function prerequisiteStatements(missing: MissingPrerequisites): string[] {
  return [
    ...missing.schemas.map(createSchemaSql),
    ...missing.extensions.map(createExtensionSql),
    ...missing.sequences.map((s) => createSequenceSql(s.schema, s.name)),
  ];
}

/**
 * Creates, under the lock, what TypeORM's schema builder assumes exists:
 * entity schemas (plain TypeORM never creates them), id sequences, and
 * extensions. Resolves to the statements this process ran to create them.
 */
export async function createPrerequisites(runner: QueryRunner, dataSource: DataSource, logger: Logger): Promise<string[]> {
  const missing = await findMissingPrerequisites(runner, dataSource);
  const executed: string[] = [];
  for (const name of missing.schemas) {
    executed.push(createSchemaSql(name));
    await runner.query(createSchemaSql(name));
  }
  for (const name of missing.extensions) {
    // TypeORM only warns when an extension cannot be installed (no superuser, say); so do we,
    // but inside a savepoint, because a failed statement would poison the sync transaction.
    const savepoint = 'typeorm_result_backend_extension';
    const inTransaction = runner.isTransactionActive;
    if (inTransaction) await runner.query(savepointSql(savepoint));
    try {
      await runner.query(createExtensionSql(name));
      if (inTransaction) await runner.query(releaseSavepointSql(savepoint));
      executed.push(createExtensionSql(name));
    } catch (error) {
      if (isRetryableSyncError(error)) throw error;
      if (inTransaction) await runner.query(rollbackToSavepointSql(savepoint));
      logger.warn('extension could not be installed; install it as a superuser', { extension: name, error: String(error) });
    }
  }
  for (const { schema, name } of missing.sequences) {
    executed.push(createSequenceSql(schema, name));
    await runner.query(createSequenceSql(schema, name));
  }
  await refuseForeignObjects(runner, sequenceObjects(entitySequences(dataSource)));
  return executed;
}
