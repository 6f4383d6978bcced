#!/usr/bin/env node
// The compiled CLI lives in dist/ (`npm run build`); this file only hands over to it.
// The SDK is pinned and Node 22 is the target; its Node 20 deprecation notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// `cartpipe kpis | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { main } = await import('../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
