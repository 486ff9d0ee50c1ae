import { AwsAccounts } from '../test/emulators/aws-accounts.js';
import { BedrockEmulator } from '../test/emulators/bedrock.js';
import { OpenAIEmulator } from '../test/emulators/openai.js';

/**
 * The benchmark's upstreams, in their own process (so they can be pinned to a core apart from
 * the gateway), not recording requests: the OpenAI emulator and the Bedrock emulator (which
 * verifies every SigV4 signature). Prints their URLs as one JSON line.
 *
 * Shapes of the streamed answers, from the environment: BENCH_STREAM_DELTAS (ConverseStream
 * text deltas), BENCH_OPENAI_STREAM_DELTAS (chat completion content deltas; unset: the
 * emulator's six words) and BENCH_OPENAI_CHUNK_DELAY_MS (a pause between SSE events: a slow
 * model, for the open-streams case).
 */
const key = process.env['BENCH_PROVIDER_KEY'];
const accessKeyId = process.env['BENCH_AWS_ACCESS_KEY_ID'];
const secretAccessKey = process.env['BENCH_AWS_SECRET_ACCESS_KEY'];
if (!key || !accessKeyId || !secretAccessKey) throw new Error('BENCH_PROVIDER_KEY and BENCH_AWS_* must be set');
const openai = new OpenAIEmulator([key]);
openai.recording = false;
openai.streamDeltas = optionalInt('BENCH_OPENAI_STREAM_DELTAS');
openai.behaviour.chunkDelayMs = optionalInt('BENCH_OPENAI_CHUNK_DELAY_MS') ?? 0;
const accounts = new AwsAccounts();
accounts.addUser('bench', { accessKeyId, secretAccessKey });
const bedrock = new BedrockEmulator({ accounts, region: 'us-east-1' });
bedrock.recording = false;
bedrock.streamDeltas = optionalInt('BENCH_STREAM_DELTAS') ?? 200;
await Promise.all([openai.start(), bedrock.start()]);
process.stdout.write(`${JSON.stringify({ openai: openai.url, bedrock: bedrock.url })}\n`);
process.once('SIGTERM', () => void Promise.all([openai.close(), bedrock.close()]).then(() => process.exit(0)));

function optionalInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
}
