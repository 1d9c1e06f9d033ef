/**
 * Errors that reach a person carry a stable code, a sentence they can act on,
 * and context for the log. The chat turns codes into friendly replies.
 *
 * @example
 * throw new NadaError('weights.truncated', 'weights file ends at byte 10, header says 4096', {
 *   path,
 * });
 */
export class NadaError extends Error {
  readonly code: string;
  readonly context: Record<string, unknown>;

  constructor(code: string, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = 'NadaError';
    this.code = code;
    this.context = context;
  }
}

/** True when `err` is a NadaError, optionally with the given code. */
export function isNadaError(err: unknown, code?: string): err is NadaError {
  return err instanceof NadaError && (code === undefined || err.code === code);
}
