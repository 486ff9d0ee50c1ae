import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { responseStoreContract } from '../../../test/contracts/response-store.js';
import { openSqliteStore } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'llmproxy-sqlite-responses-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

responseStoreContract('sqlite (file)', async () => openSqliteStore(join(root, `store-${++n}`, 'llmproxy.db')));
responseStoreContract('sqlite (:memory:)', async () => openSqliteStore(':memory:'));
