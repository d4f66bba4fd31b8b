/**
 * The small pieces every SQL module shares: a statement with its parameters,
 * identifier quoting, and running a statement on a QueryRunner or a pg Client.
 */
import type { Client } from 'pg';
import { QueryRunnerAlreadyReleasedError } from 'typeorm';

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/** Anything that runs a statement and resolves to its rows: a TypeORM QueryRunner, or a pg Client through {@link rowsOf}. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

export async function runSql<T = Record<string, unknown>>(runner: Queryable, query: SqlQuery): Promise<T[]> {
  return (await runner.query(query.text, query.values)) as T[];
}

/** A pg Client seen as a {@link Queryable}: its queries resolve to rows, as a QueryRunner's do. */
export function rowsOf(client: Client): Queryable {
  return { query: async (text, values) => (await client.query(text, values)).rows };
}

/** Quotes an identifier the way PostgreSQL's quote_ident does for any input. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A dollar-quoted literal whose tag does not occur in the body, so no name
 * inside it (a table called `t$trb$`) can end the quote early.
 */
export function dollarQuote(body: string): string {
  let tag = 'trb';
  for (let n = 1; body.includes(`$${tag}$`) || body.endsWith(`$${tag}`); n++) tag = `trb${n}`;
  return `$${tag}$${body}$${tag}$`;
}

export function qualified(schema: string | undefined, name: string): string {
  return schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name);
}

/**
 * TypeORM releases a query runner when its connection fails, sometimes before
 * the failing statement's own error arrives; the next statement then finds it
 * released. Nothing of ours releases a runner while using it, so this means
 * the connection was lost, on any database.
 */
export function isReleasedUnderUs(error: unknown): boolean {
  return error instanceof QueryRunnerAlreadyReleasedError;
}
