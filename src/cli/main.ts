#!/usr/bin/env node
// The process entry (the `llmproxy` bin, `npm start`, the container's ENTRYPOINT): the memory
// defaults first, then the command line. The command line is imported only afterwards because
// loading the gateway's modules is itself enough to grow V8's young generation to its maximum.
import { applyMemoryDefaults } from './memory.js';

applyMemoryDefaults();
await import('./commands.js');
