/**
 * Where entities live, which the synchronizer, the lock and the result store
 * all need: the schema of one entity, and the set of schemas a sync covers.
 */
import type { DataSource, EntityMetadata } from 'typeorm';

/** The entity's schema, else the connection's, else PostgreSQL's default. */
export function schemaOf(dataSource: DataSource, metadata: EntityMetadata): string {
  return metadata.schema ?? dataSource.driver.schema ?? 'public';
}

/** The schemas the entities live in: what the lock key (PostgreSQL) or lock name (MySQL) is derived from. */
export function syncedSchemas(dataSource: DataSource): string[] {
  const schemas = new Set<string>();
  for (const metadata of dataSource.entityMetadatas) {
    if (metadata.synchronize) schemas.add(schemaOf(dataSource, metadata));
  }
  if (schemas.size === 0) schemas.add(dataSource.driver.schema ?? 'public');
  return [...schemas].sort();
}

