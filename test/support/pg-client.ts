import { Client } from 'pg';

/** A raw connection, for playing the part of another session. */
export async function connect(url: string, applicationName = 'trb-test-peer'): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  return client;
}

export async function query<T extends Record<string, unknown> = Record<string, unknown>>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = await connect(url);
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Resolves once a session with this application_name is waiting on a lock: a latch, not a sleep. */
export async function waitUntilBlocked(url: string, applicationName: string, timeoutMs = 20_000): Promise<void> {
  const client = await connect(url, 'trb-test-observer');
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [applicationName]);
      if (rows[0].n > 0) return;
      if (Date.now() > deadline) throw new Error(`no session "${applicationName}" blocked on a lock within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await client.end();
  }
}
