// Lists an S3 prefix the way pipemode lists a channel (manifest/prefix-listing.ts) and prints one
// line: "<objects> <requests> <seconds>" (seconds of the listing itself, process start-up apart).
//
// usage: node bench/list_prefix.mjs s3://BUCKET/PREFIX [PARALLEL]   (PARALLEL 1 = the serial listing)
// S3 endpoint and keys come from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
import { Stores } from '../dist/src/storage/stores.js';
import { LISTING_REQUESTS, PrefixListing } from '../dist/src/manifest/prefix-listing.js';

const [uri, parallel] = process.argv.slice(2);
const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri ?? '');
if (!m) {
  console.error('usage: node bench/list_prefix.mjs s3://BUCKET/PREFIX [PARALLEL]');
  process.exit(2);
}
const stores = new Stores();
const store = stores.storeFor({ kind: 's3', bucket: m[1], key: m[2] });
await store.head('-').catch(() => {}); // loads the SDK and its client outside the timed listing
const started = performance.now();
const listing = PrefixListing.start(store, m[2], undefined, Number(parallel ?? LISTING_REQUESTS));
const all = await listing.all();
const seconds = (performance.now() - started) / 1000;
console.log(`${all.length} ${listing.requests} ${seconds.toFixed(3)}`);
stores.close();
