/**
 * A response body read whole as UTF-8, refused past `limit` bytes: an answer from a token
 * endpoint or a secret store is small, and one that is not must not fill the memory.
 */
export async function boundedText(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new Error(`the answer is longer than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
