#!/usr/bin/env node
// The pipemode CLI. The AWS SDK's NodeVersionSupportWarning is for the SDK's next releases; the
// version pipemode pins supports Node 20, so that one warning is not shown to users.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
  if (type === 'NodeVersionSupportWarning' || String(warning).includes('NodeVersionSupportWarning')) return;
  emitWarning(warning, ...rest);
};
const { main } = await import('../dist/src/cli/main.js');
// exit explicitly: channel bytes are flushed by then, and a lingering keep-alive socket must not
// keep a finished command alive
process.exit(await main(process.argv.slice(2)));
