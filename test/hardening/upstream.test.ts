import { upstreamCases } from './upstream.cases.js';
import { baseConfig, caseTests, category } from './support.js';

category('upstream misbehaviour', (upstream) => baseConfig(upstream), (arena) => caseTests(arena, upstreamCases(() => arena().key)));
