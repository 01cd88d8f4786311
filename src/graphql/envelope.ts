import { ErrorCode, SluiceError } from '../errors';
import { ResponseCode } from './types/enums';

const RESPONSE_CODE: Record<ErrorCode, ResponseCode> = {
  BAD_REQUEST: ResponseCode.BAD_REQUEST,
  NOT_FOUND: ResponseCode.NOT_FOUND,
  NOT_AUTHORIZED: ResponseCode.NOT_AUTHORIZED,
  LIMIT_REACHED: ResponseCode.LIMIT_REACHED,
  UNAUTHENTICATED: ResponseCode.NOT_AUTHORIZED,
  CONFLICT: ResponseCode.BAD_REQUEST,
  GONE: ResponseCode.NOT_FOUND,
  PAYLOAD_TOO_LARGE: ResponseCode.BAD_REQUEST,
  FORBIDDEN: ResponseCode.NOT_AUTHORIZED,
};

/**
 * Runs a mutation and wraps its answer in the response envelope: expected failures become a
 * responseCode and a message; anything else stays a (masked) GraphQL error.
 */
export async function envelope<T extends object>(
  fn: () => Promise<T & { message?: string | null }>,
  empty: NoInfer<{ [K in Exclude<keyof T, 'message'>]: null }>,
): Promise<{ [K in keyof T]: T[K] | null } & { responseCode: ResponseCode; message: string | null }> {
  try {
    const out = await fn();
    return { ...out, responseCode: ResponseCode.SUCCESS, message: out.message ?? null };
  } catch (err) {
    if (err instanceof SluiceError) return { ...(empty as { [K in keyof T]: null }), responseCode: RESPONSE_CODE[err.code], message: err.message };
    throw err;
  }
}
