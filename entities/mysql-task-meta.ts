import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The columns of `celery_taskmeta` as Celery 5.2.6 creates them on MySQL and
 * MariaDB (SQLAlchemy's `create_all` through PyMySQL or mysqlclient): the
 * same names as on PostgreSQL, in MySQL's types.
 *
 * `id` differs between the two, as in Celery: SQLAlchemy gives MariaDB
 * (10.3 and later) Celery's sequences, `task_id_sequence` and
 * `taskset_id_sequence`, and a plain `int` id that every writer draws with
 * NEXTVAL; on MySQL, which has no sequences, `id` is AUTO_INCREMENT. Hence
 * {@link MariaDbTaskMeta} and {@link MySqlTaskMeta}, or
 * `defineCeleryEntities({ dialect: 'mariadb' | 'mysql' })`.
 *
 * `result`, `args` and `kwargs` are BLOB, as Celery makes them: at most
 * 65,535 bytes each. The backend refuses a larger value with
 * PayloadTooLargeError before writing, where MySQL would fail the statement
 * (strict mode) or cut the bytes (without it).
 */
export abstract class AbstractMySqlTaskMeta {
  /** The sequence ids are drawn from on MariaDB; null where `id` is AUTO_INCREMENT (MySQL). */
  static readonly idSequence: string | null = null;

  /** Declared by each subclass: AUTO_INCREMENT on MySQL, drawn from idSequence on MariaDB. */
  id!: number;

  /** The unique key under Celery's name for it (MySQL names it after the column), so a sync onto Celery's table leaves it be. */
  @Index('task_id', { unique: true })
  @Column({ name: 'task_id', type: 'varchar', length: 155, nullable: true })
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
  static readonly idSequence: string | null = null;

  id!: number;

  @Index('taskset_id', { unique: true })
  @Column({ name: 'taskset_id', type: 'varchar', length: 155, nullable: true })
  tasksetId!: string | null;

  @Column({ type: 'blob', nullable: true })
  result!: Buffer | null;

  @Index()
  @Column({ name: 'date_done', type: 'datetime', nullable: true })
  dateDone!: Date | null;
}

/** Gives an entity class Celery's id column for its database: AUTO_INCREMENT (MySQL), or a plain int drawn from a sequence (MariaDB). */
export function declareMySqlId(target: Function, sequence: string | null): void {
  const column = sequence === null ? PrimaryGeneratedColumn({ type: 'int' }) : PrimaryColumn({ type: 'int' });
  column(target.prototype as object, 'id');
}

/** Celery's `celery_taskmeta` on MySQL, under Celery's names: `id` is AUTO_INCREMENT. */
@Entity({ name: 'celery_taskmeta' })
export class MySqlTaskMeta extends AbstractMySqlTaskMeta {}
declareMySqlId(MySqlTaskMeta, null);

/** Celery's `celery_tasksetmeta` on MySQL. */
@Entity({ name: 'celery_tasksetmeta' })
export class MySqlTaskSetMeta extends AbstractMySqlTaskSetMeta {}
declareMySqlId(MySqlTaskSetMeta, null);

/** Celery's `celery_taskmeta` on MariaDB, under Celery's names: ids come from `task_id_sequence`, which the SafeSynchronizer creates. */
@Entity({ name: 'celery_taskmeta' })
export class MariaDbTaskMeta extends AbstractMySqlTaskMeta {
  static override readonly idSequence: string | null = 'task_id_sequence';
}
declareMySqlId(MariaDbTaskMeta, MariaDbTaskMeta.idSequence);

/** Celery's `celery_tasksetmeta` on MariaDB: ids come from `taskset_id_sequence`. */
@Entity({ name: 'celery_tasksetmeta' })
export class MariaDbTaskSetMeta extends AbstractMySqlTaskSetMeta {
  static override readonly idSequence: string | null = 'taskset_id_sequence';
}
declareMySqlId(MariaDbTaskSetMeta, MariaDbTaskSetMeta.idSequence);
