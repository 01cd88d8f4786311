#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the prepare script).
try {
  require('../dist/src/cli.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli.js')) {
    console.error('sluice is not built yet: run `npm run build` (or `npm install`) first');
    process.exit(1);
  }
  throw err;
}
