import { identityStoreContract } from '../../../test/contracts/identity-store.js';
import { openSqliteStore } from './index.js';

identityStoreContract('sqlite (:memory:)', async () => openSqliteStore(':memory:'));
