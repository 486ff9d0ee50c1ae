import type { Row } from '../rows.js';
import type { ResponseRows, ResponseRowValues } from '../responses.js';
import type { PgDatabase } from './database.js';

/** The `responses` and `response_items` rows in PostgreSQL (migrations 6 and 7 in migrations.ts), with the semantics of store/sqlite/responses.ts. */
export class PgResponseRows implements ResponseRows {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async insert(r: ResponseRowValues): Promise<void> {
    // One statement, so the response and its item rows are written together or not at all.
    await this.#db.query(
      `WITH r AS (
         INSERT INTO responses (id, owner, created_at, expires_at, instance, model, previous_id, input_items, response)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, owner
       )
       INSERT INTO response_items (owner, item_id, response_id)
       SELECT r.owner, i.item_id, r.id FROM r, unnest($10::text[]) AS i(item_id)
       ON CONFLICT DO NOTHING`,
      [r.id, r.owner, r.createdAt, r.expiresAt, r.instance, r.model, r.previousId, r.input, r.response, r.itemIds],
    );
  }

  async get(id: string, owner: string, now: number): Promise<Row | undefined> {
    return (await this.#db.query('SELECT * FROM responses WHERE id = $1 AND owner = $2 AND expires_at > $3', [id, owner, now])).rows[0];
  }

  async delete(id: string, owner: string, now: number): Promise<boolean> {
    return ((await this.#db.query('DELETE FROM responses WHERE id = $1 AND owner = $2 AND expires_at > $3', [id, owner, now])).rowCount ?? 0) > 0;
  }

  async chain(id: string, owner: string, now: number, maxTurns: number, maxBytes: number): Promise<Row[]> {
    const { rows } = await this.#db.query(
      `WITH RECURSIVE chain (id, previous_id, input_items, response, depth, bytes) AS (
         SELECT id, previous_id, input_items, response, 1, octet_length(input_items)::bigint + octet_length(response)
         FROM responses WHERE id = $1 AND owner = $2 AND expires_at > $3
         UNION ALL
         SELECT r.id, r.previous_id, r.input_items, r.response, c.depth + 1, c.bytes + octet_length(r.input_items) + octet_length(r.response)
         FROM chain c JOIN responses r ON r.id = c.previous_id
         WHERE r.owner = $2 AND r.expires_at > $3 AND c.depth <= $4 AND c.bytes <= $5
       )
       SELECT * FROM chain ORDER BY depth`,
      [id, owner, now, maxTurns, maxBytes],
    );
    return rows;
  }

  async items(itemIds: readonly string[], owner: string, now: number): Promise<Row[]> {
    const { rows } = await this.#db.query(
      `SELECT r.id, r.input_items, r.response FROM responses r
       WHERE r.owner = $2 AND r.expires_at > $3 AND r.id IN (
         SELECT (SELECT x.id FROM response_items i JOIN responses x ON x.id = i.response_id
                 WHERE i.owner = $2 AND i.item_id = j.item_id AND x.expires_at > $3
                 ORDER BY x.created_at DESC, x.id DESC LIMIT 1)
         FROM unnest($1::text[]) AS j(item_id))
       ORDER BY r.created_at DESC, r.id DESC`,
      [itemIds, owner, now],
    );
    return rows;
  }

  async sweep(now: number): Promise<number> {
    return (await this.#db.query('DELETE FROM responses WHERE expires_at <= $1', [now])).rowCount ?? 0;
  }
}
