'use strict';
// Tests run against the tsc build, because esbuild/tsx emit no decorator metadata.
module.exports = {
  spec: ['dist/test/**/*.spec.js'],
  require: ['dist/test/support/hooks.js'],
  timeout: 120000,
  forbidOnly: Boolean(process.env.CI),
  reporter: 'spec',
};
