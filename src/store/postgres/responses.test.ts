import { after, before } from 'node:test';
import { responseStoreContract } from '../../../test/contracts/response-store.js';
import { freshDatabase, requireService } from '../../../test/helpers/services.js';
import { openPostgresStore } from './index.js';

const postgres = await requireService('postgres');

if (postgres.skip === false) {
  // One database for the file; each store the contract opens starts with the table emptied
  // (the contract's tests run one after another).
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    db = await freshDatabase();
  });
  after(async () => {
    await db.drop();
  });
  responseStoreContract('postgres', async () => {
    const store = await openPostgresStore(db.url, { poolSize: 2 });
    // The contract wants an empty store; sweeping far in the future empties the table through the API itself.
    await store.responses.sweep(Number.MAX_SAFE_INTEGER);
    return store;
  });
}
