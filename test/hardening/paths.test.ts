import { pathCases } from './paths.cases.js';
import { baseConfig, caseTests, category } from './support.js';

category('paths', (upstream) => baseConfig(upstream), (arena) => caseTests(arena, pathCases(() => arena().key)));
