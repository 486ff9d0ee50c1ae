import type pg from 'pg';
import { GatewayError } from '../../errors/gateway-error.js';
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
  #up = true;

  constructor(pool: pg.Pool, secrets: readonly string[]) {
    this.#pool = pool;
    this.#secrets = secrets;
  }

  /** False from a query that could not reach the server until one that could. */
  get up(): boolean {
    return this.#up;
  }

  #check(): void {
    if (this.#closing) throw new Error('the PostgreSQL store is closed');
  }

  /**
   * A driver error as callers see it: scrubbed of the URL, and, when the server could not be
   * reached (refused, cut, timed out), 503 `store_unavailable`, so no caller answers 500 for it.
   */
  #fail(err: unknown): Error {
    const scrubbed = scrubIfNeeded(err, this.#secrets);
    if (!isConnectionError(err)) return scrubbed;
    this.#up = false;
    return new GatewayError('store_unavailable', 'the store (PostgreSQL) cannot be reached; nothing was changed — try again shortly', { cause: scrubbed });
  }

  async query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    this.#check();
    try {
      const result = await this.#pool.query<R>(sql, params);
      this.#up = true;
      return result;
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** Runs `body` on one pooled connection (released afterwards, also on failure). */
  async withClient<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#check();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#fail(err);
    }
    let broken: Error | undefined;
    // The pool stops listening to a client it has lent out: a connection reset while a query runs
    // would be an uncaught 'error' event (and end the process) without this listener.
    const onError = (err: Error) => void (broken ??= err);
    client.on('error', onError);
    try {
      const out = await body(client);
      this.#up = true;
      return out;
    } catch (err) {
      // A connection that failed mid-transaction is not returned to the pool for reuse.
      if (isConnectionError(err)) broken = err as Error;
      throw err instanceof GatewayError ? err : this.#fail(err);
    } finally {
      client.off('error', onError);
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

/** The server could not be reached or the connection broke (not a query the server refused). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code.startsWith('E') || code.startsWith('08') || code === '57P01' || code === '57P03';
  // node-postgres's own timeouts and cut connections carry no code.
  const message = err instanceof Error ? err.message : '';
  return /timeout|Connection terminated|connection .*closed|Client has encountered a connection error/i.test(message);
}
