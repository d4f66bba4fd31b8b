/*
 * The only Python globals the decoder gives meaning to, and the only ones the encoder writes.
 * Nothing here is looked up dynamically: a (module, name) pair either appears below or it is
 * unknown, and unknown globals are never applied to anything.
 */

export type GlobalKind =
  | 'datetime'
  | 'date'
  | 'time'
  | 'timedelta'
  | 'timezone'
  | 'decimal'
  | 'uuid'
  | 'exception'
  | 'async_result'
  | 'group_result'
  | 'app_attr'
  | 'codecs_encode'
  | 'set'
  | 'frozenset'
  | 'bytes'
  | 'bytearray'
  | 'reconstructor'
  | 'object';

// Python 3.11's builtin exception classes (every BaseException subclass in dir(builtins)).
const BUILTIN_EXCEPTIONS = [
  'ArithmeticError', 'AssertionError', 'AttributeError', 'BaseException', 'BaseExceptionGroup', 'BlockingIOError',
  'BrokenPipeError', 'BufferError', 'BytesWarning', 'ChildProcessError', 'ConnectionAbortedError', 'ConnectionError',
  'ConnectionRefusedError', 'ConnectionResetError', 'DeprecationWarning', 'EOFError', 'EncodingWarning',
  'EnvironmentError', 'Exception', 'ExceptionGroup', 'FileExistsError', 'FileNotFoundError', 'FloatingPointError',
  'FutureWarning', 'GeneratorExit', 'IOError', 'ImportError', 'ImportWarning', 'IndentationError', 'IndexError',
  'InterruptedError', 'IsADirectoryError', 'KeyError', 'KeyboardInterrupt', 'LookupError', 'MemoryError',
  'ModuleNotFoundError', 'NameError', 'NotADirectoryError', 'NotImplementedError', 'OSError', 'OverflowError',
  'PendingDeprecationWarning', 'PermissionError', 'ProcessLookupError', 'RecursionError', 'ReferenceError',
  'ResourceWarning', 'RuntimeError', 'RuntimeWarning', 'StopAsyncIteration', 'StopIteration', 'SyntaxError',
  'SyntaxWarning', 'SystemError', 'SystemExit', 'TabError', 'TimeoutError', 'TypeError', 'UnboundLocalError',
  'UnicodeDecodeError', 'UnicodeEncodeError', 'UnicodeError', 'UnicodeTranslateError', 'UnicodeWarning',
  'UserWarning', 'ValueError', 'Warning', 'ZeroDivisionError',
];

// Celery 5.2.6's own exception classes (those whose __module__ is celery.exceptions).
const CELERY_EXCEPTIONS = [
  'AlreadyRegistered', 'AlwaysEagerIgnored', 'BackendError', 'BackendGetMetaError', 'BackendStoreError',
  'CDeprecationWarning', 'CPendingDeprecationWarning', 'CeleryCommandException', 'CeleryError', 'CeleryWarning',
  'ChordError', 'DuplicateNodenameWarning', 'FixupWarning', 'Ignore', 'ImproperlyConfigured', 'IncompleteStream',
  'InvalidTaskError', 'MaxRetriesExceededError', 'NotConfigured', 'NotRegistered', 'QueueNotFound', 'Reject', 'Retry',
  'RetryTaskError', 'SecurityError', 'SecurityWarning', 'SystemTerminate', 'TaskError', 'TaskPredicate',
  'TaskRevokedError', 'TimeoutError', 'WorkerShutdown', 'WorkerTerminate',
];

// Time limits and lost workers surface as billiard's classes, re-exported by celery.exceptions.
const BILLIARD_EXCEPTIONS = [
  'CoroStop', 'RestartFreqExceeded', 'SoftTimeLimitExceeded', 'Terminated', 'TimeLimitExceeded', 'WorkerLostError',
];

const ALLOWED = new Map<string, GlobalKind>([
  ['datetime.datetime', 'datetime'],
  ['datetime.date', 'date'],
  ['datetime.time', 'time'],
  ['datetime.timedelta', 'timedelta'],
  ['datetime.timezone', 'timezone'],
  ['decimal.Decimal', 'decimal'],
  ['uuid.UUID', 'uuid'],
  ['celery.result.AsyncResult', 'async_result'],
  ['celery.result.GroupResult', 'group_result'],
  // What a Celery app's own result classes pickle as: _unpickle_appattr('GroupResult', args).
  // Only the result class names below are given meaning; any other attribute is refused.
  ['celery.app.base._unpickle_appattr', 'app_attr'],
  // Protocols 0-2 have no bytes/set opcodes, so Python spells those values as calls to these.
  ['_codecs.encode', 'codecs_encode'],
  ['builtins.set', 'set'],
  ['builtins.frozenset', 'frozenset'],
  ['builtins.bytes', 'bytes'],
  ['builtins.bytearray', 'bytearray'],
  // Protocols 0-1 rebuild a uuid.UUID as copyreg._reconstructor(UUID, object, None) plus BUILD.
  ['copyreg._reconstructor', 'reconstructor'],
  ['builtins.object', 'object'],
  ...BUILTIN_EXCEPTIONS.map((n): [string, GlobalKind] => [`builtins.${n}`, 'exception']),
  ...CELERY_EXCEPTIONS.map((n): [string, GlobalKind] => [`celery.exceptions.${n}`, 'exception']),
  ...BILLIARD_EXCEPTIONS.map((n): [string, GlobalKind] => [`billiard.exceptions.${n}`, 'exception']),
]);

// Python 2 names that Python 3 maps when reading protocols 0-2 (the subset of _compat_pickle we can meet).
const PY2_MODULES = new Map([
  ['__builtin__', 'builtins'],
  ['exceptions', 'builtins'],
  ['copy_reg', 'copyreg'],
]);
const PY2_NAMES = new Map([['exceptions.StandardError', 'builtins.Exception']]);

export interface ResolvedGlobal {
  module: string;
  name: string;
  kind: GlobalKind | null;
}

/**
 * The attributes of a Celery app that `_unpickle_appattr` may name in a result row: the app-bound
 * subclasses of Celery's result classes, which carry the same reduce arguments as the classes
 * themselves. (ResultSet has no __reduce_args__ in Celery 5.2.6, so it is never pickled.)
 */
export const APP_RESULT_CLASSES: ReadonlyMap<string, GlobalKind> = new Map([
  ['AsyncResult', 'async_result'],
  ['GroupResult', 'group_result'],
]);

/** Applies Python's 2-to-3 name mapping for old protocols, then looks the name up in the allow-list. */
export function resolveGlobal(module: string, name: string, protocol: number): ResolvedGlobal {
  if (protocol < 3) {
    const renamed = PY2_NAMES.get(`${module}.${name}`);
    if (renamed !== undefined) {
      const dot = renamed.lastIndexOf('.');
      module = renamed.slice(0, dot);
      name = renamed.slice(dot + 1);
    } else {
      module = PY2_MODULES.get(module) ?? module;
    }
  }
  return { module, name, kind: ALLOWED.get(`${module}.${name}`) ?? null };
}

/** Whether the encoder may write this exception class: the same allow-list the decoder reads. */
export function isAllowedException(module: string, name: string): boolean {
  return ALLOWED.get(`${module}.${name}`) === 'exception';
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Whether a string can be a module or attribute name. Checked before a name is ever quoted in
 * an error, so a corrupt STACK_GLOBAL that picks up some other string (a database URL, say)
 * cannot smuggle it into a message.
 */
export function isIdentifierPath(s: string): boolean {
  return s.length <= 200 && IDENT.test(s);
}
