import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The columns of `celery_taskmeta` as Celery 5.2.6 creates them on MySQL and
 * MariaDB (SQLAlchemy's `create_all` through PyMySQL or mysqlclient): the
 * same names as on PostgreSQL, in MySQL's types. There is no sequence on
 * MySQL: `id` is AUTO_INCREMENT, and every writer leaves it out.
 *
 * `result`, `args` and `kwargs` are BLOB, as Celery makes them: at most
 * 65,535 bytes each. The backend refuses a larger value with
 * PayloadTooLargeError before writing, where MySQL would fail the statement
 * (strict mode) or cut the bytes (without it).
 */
export abstract class AbstractMySqlTaskMeta {
  @PrimaryGeneratedColumn({ type: 'int' })
  id!: number;

  @Column({ name: 'task_id', type: 'varchar', length: 155, nullable: true, unique: true })
  taskId!: string | null;

  @Column({ type: 'varchar', length: 50, nullable: true })
  status!: string | null;

  @Column({ type: 'blob', nullable: true })
  result!: Buffer | null;

  /** Naive UTC, as Celery writes it. The index keeps expiry cleanup from scanning the table. */
  @Index()
  @Column({ name: 'date_done', type: 'datetime', nullable: true })
  dateDone!: Date | null;

  @Column({ type: 'text', nullable: true })
  traceback!: string | null;

  @Column({ type: 'varchar', length: 155, nullable: true })
  name!: string | null;

  @Column({ type: 'blob', nullable: true })
  args!: Buffer | null;

  @Column({ type: 'blob', nullable: true })
  kwargs!: Buffer | null;

  @Column({ type: 'varchar', length: 155, nullable: true })
  worker!: string | null;

  @Column({ type: 'int', nullable: true })
  retries!: number | null;

  @Column({ type: 'varchar', length: 155, nullable: true })
  queue!: string | null;
}

/** `celery_tasksetmeta` (group results) as Celery 5.2.6 creates it on MySQL and MariaDB. */
export abstract class AbstractMySqlTaskSetMeta {
  @PrimaryGeneratedColumn({ type: 'int' })
  id!: number;

  @Column({ name: 'taskset_id', type: 'varchar', length: 155, nullable: true, unique: true })
  tasksetId!: string | null;

  @Column({ type: 'blob', nullable: true })
  result!: Buffer | null;

  @Index()
  @Column({ name: 'date_done', type: 'datetime', nullable: true })
  dateDone!: Date | null;
}

/** Celery's `celery_taskmeta` on MySQL/MariaDB, under Celery's names. */
@Entity({ name: 'celery_taskmeta' })
export class MySqlTaskMeta extends AbstractMySqlTaskMeta {}

/** Celery's `celery_tasksetmeta` on MySQL/MariaDB, under Celery's names. */
@Entity({ name: 'celery_tasksetmeta' })
export class MySqlTaskSetMeta extends AbstractMySqlTaskSetMeta {}
