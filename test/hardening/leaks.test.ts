import { leakCases } from './leaks.cases.js';
import { baseConfig, caseTests, category } from './support.js';

category('leaks', (upstream) => baseConfig(upstream), (arena) => caseTests(arena, leakCases(() => arena().key)));
