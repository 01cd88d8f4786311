/** One error vocabulary for the whole server; mapped once to GraphQL envelopes and once to HTTP statuses. */
export enum ErrorCode {
  BAD_REQUEST = 'BAD_REQUEST',
  NOT_FOUND = 'NOT_FOUND',
  NOT_AUTHORIZED = 'NOT_AUTHORIZED',
  LIMIT_REACHED = 'LIMIT_REACHED',
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  CONFLICT = 'CONFLICT',
  GONE = 'GONE',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  /** Known caller, not allowed (staff-only operations). */
  FORBIDDEN = 'FORBIDDEN',
}

/** An expected failure: its message is written for the person who made the request. */
export class SluiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new SluiceError(ErrorCode.BAD_REQUEST, message);
export const notFound = (message: string) => new SluiceError(ErrorCode.NOT_FOUND, message);

export const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  NOT_AUTHORIZED: 403,
  LIMIT_REACHED: 429,
  UNAUTHENTICATED: 401,
  CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  FORBIDDEN: 403,
};
