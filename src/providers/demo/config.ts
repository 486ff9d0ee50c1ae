/**
 * The configuration used when no config file is given or found: loopback only, SQLite under
 * ./data/, and the built-in demo instance. Written as YAML would be, then validated like any file.
 */
export const DEMO_CONFIG = {
  server: { host: '127.0.0.1', port: 8080 },
  storage: { sqlite: { path: './data/llmproxy.db' } },
  instances: { demo: { type: 'demo' } },
  // So the unified /v1 routes work out of the box too.
  model_aliases: { 'demo-echo': 'demo/demo-echo', 'demo-embed': 'demo/demo-embed' },
} as const;
