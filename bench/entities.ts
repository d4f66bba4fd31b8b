import { EntitySchema } from 'typeorm';
import { TaskMeta, TaskSetMeta } from '../lib';

/**
 * A schema of `n` generated entities, each with the kinds of columns apps
 * have (uuid key, varchar, enum, jsonb, timestamps, a nullable FK to the
 * previous entity, an index), plus Celery's two tables: what a big app syncs.
 */
export function benchEntities(n: number): (EntitySchema | Function)[] {
  const schemas: (EntitySchema | Function)[] = [TaskMeta, TaskSetMeta];
  for (let i = 0; i < n; i++) {
    const name = `bench_entity_${i}`;
    schemas.push(
      new EntitySchema<Record<string, unknown>>({
        name,
        tableName: name,
        columns: {
          id: { type: 'uuid', primary: true, generated: 'uuid' },
          title: { type: 'varchar', length: 120 },
          state: { type: 'enum', enum: ['new', 'active', 'done'], enumName: `${name}_state`, default: 'new' },
          payload: { type: 'jsonb', nullable: true },
          amount: { type: 'numeric', precision: 12, scale: 2, default: 0 },
          createdAt: { type: 'timestamptz', createDate: true },
          updatedAt: { type: 'timestamptz', updateDate: true },
        },
        indices: [{ name: `${name}_title_idx`, columns: ['title'] }],
        relations: i > 0 ? { previous: { type: 'many-to-one', target: `bench_entity_${i - 1}`, nullable: true, onDelete: 'SET NULL' } } : {},
      }),
    );
  }
  return schemas;
}
