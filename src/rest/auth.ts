import { Request } from 'express';
import { UserService } from '../catalog/user.service';
import { UserEntity } from '../entities/user.entity';
import { ErrorCode, SluiceError } from '../errors';
import { bearerToken } from '../graphql/context';
import { noteUser } from '../observability/request-log';

/**
 * The caller named by an Authorization header, for REST and GraphQL alike; an UNAUTHENTICATED error
 * with the reason otherwise.
 */
export async function userFromAuthorization(header: string | undefined, users: UserService): Promise<UserEntity> {
  return knownUser(await users.authenticate(tokenOfAuthorization(header)));
}

/** The token of an Authorization header; UNAUTHENTICATED with the reason when there is none. */
export function tokenOfAuthorization(header: string | undefined): string {
  if (!header) throw new SluiceError(ErrorCode.UNAUTHENTICATED, 'missing Authorization header: send "Authorization: Bearer <token>"');
  const token = bearerToken(header);
  if (!token) throw new SluiceError(ErrorCode.UNAUTHENTICATED, 'the Authorization header must be "Bearer <token>"');
  return token;
}

/** The user a token named, or UNAUTHENTICATED when it named none. */
export function knownUser(user: UserEntity | null): UserEntity {
  if (!user) throw new SluiceError(ErrorCode.UNAUTHENTICATED, 'the token is not valid: create one with `npx sluice token create --email <you>`');
  return user;
}

/** The caller of a REST route, from its Bearer token; 401 with the reason otherwise. */
export async function requireUser(req: Request, users: UserService): Promise<UserEntity> {
  const user = await userFromAuthorization(req.headers.authorization, users);
  noteUser(req, user.id);
  return user;
}
