import type pg from 'pg';
import { scrubError, scrubText } from '../url-secret.js';

type Row = Record<string, unknown>;

/**
 * The store's handle on its connection pool: queries, transactions and close, with every
 * driver error scrubbed of the connection URL. Shared by the key, audit, identity and
 * governance stores of one PostgresStore.
 */
export class PgDatabase {
  readonly #pool: pg.Pool;
  readonly #secrets: readonly string[];
  #closing: Promise<void> | undefined;

  constructor(pool: pg.Pool, secrets: readonly string[]) {
    this.#pool = pool;
    this.#secrets = secrets;
  }

  #check(): void {
    if (this.#closing) throw new Error('the PostgreSQL store is closed');
  }

  async query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    this.#check();
    try {
      return await this.#pool.query<R>(sql, params);
    } catch (err) {
      throw scrubIfNeeded(err, this.#secrets);
    }
  }

  /** Runs `body` on one pooled connection (released afterwards, also on failure). */
  async withClient<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#check();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw scrubError(err, this.#secrets);
    }
    let broken: Error | undefined;
    try {
      return await body(client);
    } catch (err) {
      // A connection that failed mid-transaction is not returned to the pool for reuse.
      if (isConnectionError(err)) broken = err as Error;
      throw scrubIfNeeded(err, this.#secrets);
    } finally {
      client.release(broken);
    }
  }

  /** Runs `body` in one READ COMMITTED transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        const out = await body(client);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Ends the pool once; later calls share the first one's promise. */
  close(): Promise<void> {
    this.#closing ??= this.#pool.end().catch(() => undefined);
    return this.#closing;
  }
}

/** `err` itself when it holds no trace of the URL (keeps its class for callers), else a scrubbed copy. */
function scrubIfNeeded(err: unknown, secrets: readonly string[]): Error {
  if (err instanceof Error && scrubText(`${err.message}\n${err.stack ?? ''}`, secrets) === `${err.message}\n${err.stack ?? ''}`) return err;
  return scrubError(err, secrets);
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('E') || code.startsWith('08') || code === '57P01');
}
