import { Column, Index, PrimaryColumn } from 'typeorm';

/**
 * The columns of Celery's `celery_taskmeta`, exactly as Celery 5.2.6 creates
 * them. Extend it and decorate the subclass with `@Entity` to add columns or
 * pick another table; {@link TaskMeta} is the ready-made one.
 *
 * `id` has no column default, as in Celery: every writer draws it with an
 * explicit `nextval` of {@link AbstractTaskMeta.idSequence}, which the
 * SafeSynchronizer creates. So Celery's INSERT works on our tables, and ours on Celery's.
 */
export abstract class AbstractTaskMeta {
  /** The sequence ids are drawn from; Celery's name by default. Override it in a subclass to rename. */
  static readonly idSequence: string = 'task_id_sequence';

  @PrimaryColumn({ type: 'integer' })
  id!: number;

  @Column({ name: 'task_id', type: 'varchar', length: 155, nullable: true, unique: true })
  taskId!: string | null;

  @Column({ type: 'varchar', length: 50, nullable: true })
  status!: string | null;

  /** Encoded by the codec: JSON bytes by default, a Python pickle in Celery's own rows. */
  @Column({ type: 'bytea', nullable: true })
  result!: Buffer | null;

  /** Naive UTC, as Celery writes it. The index keeps expiry cleanup from scanning the table. */
  @Index()
  @Column({ name: 'date_done', type: 'timestamp without time zone', nullable: true })
  dateDone!: Date | null;

  @Column({ type: 'text', nullable: true })
  traceback!: string | null;

  // The `result_extended` columns. Celery creates them whatever that setting says.
  @Column({ type: 'varchar', length: 155, nullable: true })
  name!: string | null;

  @Column({ type: 'bytea', nullable: true })
  args!: Buffer | null;

  @Column({ type: 'bytea', nullable: true })
  kwargs!: Buffer | null;

  @Column({ type: 'varchar', length: 155, nullable: true })
  worker!: string | null;

  @Column({ type: 'integer', nullable: true })
  retries!: number | null;

  @Column({ type: 'varchar', length: 155, nullable: true })
  queue!: string | null;
}
