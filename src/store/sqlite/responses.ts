import type Database from 'better-sqlite3';
import type { Row } from '../rows.js';
import type { ResponseRows, ResponseRowValues } from '../responses.js';

/**
 * Migration 6: stored Responses API responses (store/response-types.ts). Bodies are JSON text;
 * `expires_at` is indexed for the sweep, `previous_id` is followed by primary key.
 */
export const RESPONSES_MIGRATION = `
  CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    instance    TEXT NOT NULL,
    model       TEXT NOT NULL,
    previous_id TEXT,
    input_items TEXT NOT NULL,
    response    TEXT NOT NULL
  );
  CREATE INDEX responses_expires ON responses(expires_at);
`;

/**
 * Migration 7: which stored responses hold an item, so an `item_reference` input item resolves
 * by id. One row per (owner, item, response): an item a client sent back in full is held by
 * several responses and stays resolvable while any of them lives. Rows go with their response
 * (delete, sweep) through the cascade; responses stored before this migration have none.
 */
export const RESPONSE_ITEMS_MIGRATION = `
  CREATE TABLE response_items (
    owner       TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    response_id TEXT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
    PRIMARY KEY (owner, item_id, response_id)
  );
  CREATE INDEX response_items_response ON response_items(response_id);
`;

/** Bytes of a TEXT column as UTF-8 (SQLite's length() of text counts characters). */
const BYTES = (column: string) => `length(CAST(${column} AS BLOB))`;

/** The `responses` rows in SQLite; every statement prepared once. */
export class SqliteResponseRows implements ResponseRows {
  readonly #insert: (row: ResponseRowValues) => void;
  readonly #items: Database.Statement;
  readonly #get: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #chain: Database.Statement;
  readonly #sweep: Database.Statement;

  constructor(db: Database.Database) {
    const insertResponse = db.prepare(
      `INSERT INTO responses (id, owner, created_at, expires_at, instance, model, previous_id, input_items, response)
       VALUES (@id, @owner, @createdAt, @expiresAt, @instance, @model, @previousId, @input, @response)`,
    );
    const insertItem = db.prepare('INSERT OR IGNORE INTO response_items (owner, item_id, response_id) VALUES (?, ?, ?)');
    this.#insert = db.transaction((row: ResponseRowValues) => {
      const { itemIds: _ids, ...columns } = row;
      insertResponse.run(columns);
      for (const itemId of row.itemIds) insertItem.run(row.owner, itemId, row.id);
    });
    // Per id the newest live response holding it (by created_at, then id), each response once.
    this.#items = db.prepare(
      `SELECT r.id, r.input_items, r.response FROM responses r
       WHERE r.owner = @owner AND r.expires_at > @now AND r.id IN (
         SELECT (SELECT x.id FROM response_items i JOIN responses x ON x.id = i.response_id
                 WHERE i.owner = @owner AND i.item_id = j.value AND x.expires_at > @now
                 ORDER BY x.created_at DESC, x.id DESC LIMIT 1)
         FROM json_each(@ids) j)
       ORDER BY r.created_at DESC, r.id DESC`,
    );
    this.#get = db.prepare('SELECT * FROM responses WHERE id = ? AND owner = ? AND expires_at > ?');
    this.#delete = db.prepare('DELETE FROM responses WHERE id = ? AND owner = ? AND expires_at > ?');
    this.#chain = db.prepare(
      `WITH RECURSIVE chain (id, previous_id, input_items, response, depth, bytes) AS (
         SELECT id, previous_id, input_items, response, 1, ${BYTES('input_items')} + ${BYTES('response')}
         FROM responses WHERE id = @id AND owner = @owner AND expires_at > @now
         UNION ALL
         SELECT r.id, r.previous_id, r.input_items, r.response, c.depth + 1, c.bytes + ${BYTES('r.input_items')} + ${BYTES('r.response')}
         FROM chain c JOIN responses r ON r.id = c.previous_id
         WHERE r.owner = @owner AND r.expires_at > @now AND c.depth <= @maxTurns AND c.bytes <= @maxBytes
       )
       SELECT * FROM chain ORDER BY depth`,
    );
    this.#sweep = db.prepare('DELETE FROM responses WHERE expires_at <= ?');
  }

  async insert(row: ResponseRowValues): Promise<void> {
    this.#insert(row);
  }

  async get(id: string, owner: string, now: number): Promise<Row | undefined> {
    return this.#get.get(id, owner, now) as Row | undefined;
  }

  async delete(id: string, owner: string, now: number): Promise<boolean> {
    return this.#delete.run(id, owner, now).changes > 0;
  }

  async chain(id: string, owner: string, now: number, maxTurns: number, maxBytes: number): Promise<Row[]> {
    return this.#chain.all({ id, owner, now, maxTurns, maxBytes }) as Row[];
  }

  async items(itemIds: readonly string[], owner: string, now: number): Promise<Row[]> {
    return this.#items.all({ ids: JSON.stringify(itemIds), owner, now }) as Row[];
  }

  async sweep(now: number): Promise<number> {
    return this.#sweep.run(now).changes;
  }
}
