/** Running statistics of a record stream: count, payload bytes, smallest / largest / mean size. */

export class RecordSummary {
  records = 0;
  payloadBytes = 0;
  min = Infinity;
  max = 0;

  add(length: number): void {
    this.records++;
    this.payloadBytes += length;
    if (length < this.min) this.min = length;
    if (length > this.max) this.max = length;
  }

  get mean(): number {
    return this.records === 0 ? 0 : this.payloadBytes / this.records;
  }
}
