'use strict';
// Tests run against the tsc build, because esbuild/tsx emit no decorator metadata.
// The specs that need Python Celery installed live in test/interop (npm run test:interop).
module.exports = {
  spec: ['dist/test/{sync,migrate,backend,concurrency,package,pickle,examples,docs,cli,nestjs,faults,dialects,security}/**/*.spec.js'],
  require: ['dist/test/support/hooks.js'],
  timeout: 120000,
  forbidOnly: Boolean(process.env.CI),
  reporter: 'spec',
};
