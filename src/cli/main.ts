#!/usr/bin/env node
// The process entry (the `llmproxy` bin, `npm start`, the container's ENTRYPOINT). For `serve`,
// the memory defaults come first, then the command line: loading the gateway's modules is
// itself enough to grow V8's young generation to its maximum, so the command line is imported
// only afterwards. The other commands are short-lived and keep V8's own settings.
import { applyMemoryDefaults } from './memory.js';

if (process.argv[2] === 'serve') applyMemoryDefaults();
await import('./commands.js');
