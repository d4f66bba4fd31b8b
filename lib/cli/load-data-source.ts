import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataSource, InstanceChecker } from 'typeorm';
import { ResultBackendError } from '../errors';

/** The command line or the data-source file cannot work; exit code 2. */
export class UsageError extends ResultBackendError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts']);
const JAVASCRIPT = new Set(['.js', '.mjs', '.cjs']);

/**
 * Loads a data-source file the way TypeORM's CLI `-d` does: a DataSource as
 * the default export, or as the one named export that is a DataSource.
 * JavaScript loads with Node's own import(); TypeScript through tsx, an
 * optional peer dependency.
 */
export async function loadDataSource(file: string): Promise<DataSource> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`No data-source file at ${path}. Pass the path of a file that exports your DataSource, with -d.`);
  const ext = extname(path);
  let exports: Record<string, unknown>;
  if (JAVASCRIPT.has(ext)) {
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } else if (TYPESCRIPT.has(ext)) {
    exports = await importTypeScript(path);
  } else {
    throw new UsageError(`The data-source file ${path} ends in "${ext}"; only .js, .mjs, .cjs, .ts, .mts and .cts are loaded. Pass one of those.`);
  }
  return pickDataSource(path, exports);
}

async function importTypeScript(path: string): Promise<Record<string, unknown>> {
  let api: { tsImport(specifier: string, parent: string): Promise<unknown> };
  try {
    api = (await import('tsx/esm/api')) as typeof api;
  } catch {
    throw new UsageError(
      `${path} is TypeScript, and loading TypeScript needs the tsx package, which is not installed. ` +
        'Install it (npm install --save-dev tsx), or compile the file and pass the .js.',
    );
  }
  return (await api.tsImport(pathToFileURL(path).href, __filename)) as Record<string, unknown>;
}

function pickDataSource(path: string, exports: Record<string, unknown>): DataSource {
  // import() of a CommonJS file puts module.exports on `default`, so `exports.default = …`
  // (what tsc makes of `export default`) sits one level in: look there too.
  const layers = [exports];
  const inner = exports.default;
  if (inner !== null && typeof inner === 'object' && !InstanceChecker.isDataSource(inner)) layers.push(inner as Record<string, unknown>);
  const found = new Map<unknown, string>();
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer)) {
      if (InstanceChecker.isDataSource(value) && (!found.has(value) || name === 'default')) found.set(value, name);
    }
  }
  const entries = [...found];
  const byDefault = entries.find(([, name]) => name === 'default');
  if (byDefault) return byDefault[0] as DataSource;
  if (entries.length === 1) return entries[0][0] as DataSource;
  if (entries.length === 0) {
    throw new UsageError(`${path} exports no DataSource. Export one: export default new DataSource({ … }), or a single named export.`);
  }
  throw new UsageError(`${path} exports several DataSources (${entries.map(([, name]) => name).join(', ')}) and none as default. Export the one to use as default.`);
}
