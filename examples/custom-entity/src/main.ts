// Results of a multi-tenant app: Celery's columns plus a tenant, in tables of their own.
import 'reflect-metadata';
import { Column, DataSource, Entity } from 'typeorm';
import { AbstractTaskMeta, AbstractTaskSetMeta, ResultBackend, SafeSynchronizer, defineCeleryEntities } from 'typeorm-result-backend';

@Entity({ name: 'tenant_results', schema: 'results' })
class TenantTaskMeta extends AbstractTaskMeta {
  static override readonly idSequence = 'tenant_results_id_seq';

  @Column({ type: 'varchar', length: 40, nullable: true })
  tenant!: string | null;
}

@Entity({ name: 'tenant_groups', schema: 'results' })
class TenantGroupMeta extends AbstractTaskSetMeta {
  static override readonly idSequence = 'tenant_groups_id_seq';
}

// A second pair, renamed the way Celery's database_table_names would.
const reports = defineCeleryEntities({ taskTable: 'report_taskmeta', groupTable: 'report_groupmeta', schema: 'reports' });

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/example');
  const dataSource = await SafeSynchronizer.initialize(
    new DataSource({ type: 'postgres', url, entities: [TenantTaskMeta, TenantGroupMeta, reports.TaskMeta, reports.TaskSetMeta], synchronize: true }),
  );
  const tenants = new ResultBackend(dataSource, { entities: { task: TenantTaskMeta, group: TenantGroupMeta } });
  const reporting = new ResultBackend(dataSource, { entities: reports }); // what defineCeleryEntities returns, as it is
  try {
    await tenants.markAsDone('invoice-7', { total: 120 }, { extra: { tenant: 'acme' } });
    await reporting.markAsDone('report-1', 'ok');
    const [row] = await dataSource.query('SELECT task_id, tenant FROM results.tenant_results');
    console.log(`results.tenant_results: ${row.task_id} for tenant ${row.tenant}`);
    console.log(`reports.report_taskmeta: report-1 is ${(await reporting.getTaskMeta('report-1')).status}`);
  } finally {
    await tenants.close();
    await reporting.close();
    await dataSource.destroy();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
