/**
 * Chunks in, records out: drives a RecordDecoder over an async iterable of byte chunks (a file,
 * a FIFO, an object read). It only pulls: a consumer that stops asking stops the reading, and a
 * consumer that leaves early (break, return) closes the source through its iterator's return().
 * A stream that ends inside a record throws RecordFormatError after the complete records.
 */
import type { RecordDecoder } from './record-interfaces.js';

export async function* decodeRecords(chunks: AsyncIterable<Buffer>, decoder: RecordDecoder): AsyncGenerator<Buffer, void, undefined> {
  for await (const chunk of chunks) {
    const records = decoder.push(chunk);
    for (let i = 0; i < records.length; i++) yield records[i] as Buffer;
  }
  yield* decoder.end();
}
