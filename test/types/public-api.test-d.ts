/**
 * The public surface of `pipemode` (src/index.ts), checked by the type checker (`tsc` in the
 * test command): what a library user needs is there with the expected types, and internals are
 * not (each `@ts-expect-error` fails the build if the name becomes public).
 */
import * as api from '../../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(_ok: T): void {}

// channels, streams and Pipe mode
expectType<Equal<ReturnType<typeof api.resolveChannel>, api.ChannelSpec>>(true);
expectType<Equal<Awaited<ReturnType<typeof api.ChannelStream.open>>, api.ChannelStream>>(true);
expectType<Equal<ReturnType<typeof api.servePipes>, Promise<void>>>(true);
expectType<Equal<ReturnType<typeof api.resolveFetchOptions>, api.FetchOptions>>(true);
const stores: api.Stores = new api.Stores();
void stores;

// the reader
expectType<Equal<ReturnType<typeof api.openChannel>, api.ChannelReader>>(true);
expectType<Equal<Parameters<typeof api.createRecordDecoder>[0], api.RecordFormat>>(true);

// errors: the catalogue's classes, each with its code, exit status and HTTP mapping
const err: api.PipemodeError = new api.ConfigError('x', { field: 'f' });
void err;
expectType<Equal<typeof err.code, string>>(true);
expectType<Equal<typeof err.exitCode, number>>(true);
expectType<Equal<typeof err.http, api.HttpMapping>>(true);

// training
expectType<Equal<Awaited<ReturnType<typeof api.runJob>>, api.JobOutcome>>(true);
expectType<Equal<api.JobOutcome['exitCode'], number>>(true);

// internals stay internal
// @ts-expect-error the prefetcher is an implementation detail of ChannelStream
void api.Prefetcher;
// @ts-expect-error errors are rebuilt from codes inside pipemode only
void api.errorFromCode;
// @ts-expect-error the in-memory store is a test double
void api.MemoryStore;
// @ts-expect-error epoch planning is internal
void api.planEpoch;
// @ts-expect-error the pipe writer is internal
void api.writeToPipe;
