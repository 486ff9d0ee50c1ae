/**
 * The configuration used when no config file is given or found: loopback only, SQLite under
 * ./data/, and the built-in demo instance. Written as YAML would be, then validated like any file.
 */
export const DEMO_CONFIG = {
  server: { host: '127.0.0.1', port: 8080 },
  storage: { sqlite: { path: './data/llmproxy.db' } },
  instances: { demo: { type: 'demo' } },
} as const;
