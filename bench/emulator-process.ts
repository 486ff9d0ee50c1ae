import { OpenAIEmulator } from '../test/emulators/openai.js';

/**
 * The benchmark's upstream: the OpenAI emulator in its own process (so it can be pinned to a
 * core apart from the gateway), not recording requests. Prints its URL as one JSON line.
 */
const key = process.env['BENCH_PROVIDER_KEY'];
if (!key) throw new Error('BENCH_PROVIDER_KEY is not set');
const emulator = new OpenAIEmulator([key]);
emulator.recording = false;
await emulator.start();
process.stdout.write(`${JSON.stringify({ url: emulator.url })}\n`);
process.once('SIGTERM', () => void emulator.close().then(() => process.exit(0)));
