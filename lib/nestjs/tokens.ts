import { Inject } from '@nestjs/common';
import { ResultBackend } from '../backend/result-backend';

/**
 * The injection token of a ResultBackend: the class itself for the default one,
 * so `constructor(private readonly results: ResultBackend)` needs no decorator,
 * and a string for a named one.
 */
export function getResultBackendToken(name?: string): string | typeof ResultBackend {
  return name === undefined ? ResultBackend : `typeorm-result-backend:ResultBackend:${name}`;
}

/** Injects the ResultBackend registered by `TaskResultModule.forRoot({ name })` (the default one without a name). */
export const InjectResultBackend = (name?: string): PropertyDecorator & ParameterDecorator => Inject(getResultBackendToken(name));
