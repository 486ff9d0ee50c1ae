import { framingCases } from './framing.cases.js';
import { baseConfig, caseTests, category } from './support.js';

category('framing', (upstream) => baseConfig(upstream), (arena) => caseTests(arena, framingCases(() => arena().key)));
