import { Column, Index, PrimaryColumn } from 'typeorm';

/**
 * The columns of Celery's `celery_tasksetmeta` (group results), exactly as
 * Celery 5.2.6 creates them. Extend it and decorate the subclass with `@Entity`.
 */
export abstract class AbstractTaskSetMeta {
  /** The sequence ids are drawn from; Celery's name by default. */
  static readonly idSequence: string = 'taskset_id_sequence';

  @PrimaryColumn({ type: 'integer' })
  id!: number;

  @Column({ name: 'taskset_id', type: 'varchar', length: 155, nullable: true, unique: true })
  tasksetId!: string | null;

  /** The encoded group: its member task ids. Celery stores a pickled GroupResult. */
  @Column({ type: 'bytea', nullable: true })
  result!: Buffer | null;

  @Index()
  @Column({ name: 'date_done', type: 'timestamp without time zone', nullable: true })
  dateDone!: Date | null;
}
