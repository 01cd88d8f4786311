import crypto from 'node:crypto';
import { DataSource } from 'typeorm';
import { AccessTokenEntity, UserEntity } from '../entities';
import { badRequest, notFound } from '../errors';
import { hashToken, newToken } from './tokens';

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export class UserService {
  constructor(private readonly ds: DataSource) {}

  async createUser(email: string, admin = false): Promise<{ user: UserEntity; token: string }> {
    const normalised = email.trim().toLowerCase();
    if (!EMAIL.test(normalised)) throw badRequest(`"${email}" is not an email address`);
    if (await this.ds.getRepository(UserEntity).findOneBy({ email: normalised })) {
      throw badRequest(`a user with email ${normalised} already exists`);
    }
    const user = Object.assign(new UserEntity(), { id: crypto.randomUUID(), email: normalised, admin, limits: null, createdOn: Date.now() });
    await this.ds.getRepository(UserEntity).insert(user);
    const token = await this.createToken(user.id);
    return { user, token };
  }

  async findByEmail(email: string): Promise<UserEntity> {
    const user = await this.ds.getRepository(UserEntity).findOneBy({ email: email.trim().toLowerCase() });
    if (!user) throw notFound(`no user with email ${email}`);
    return user;
  }

  findById(id: string): Promise<UserEntity | null> {
    return this.ds.getRepository(UserEntity).findOneBy({ id });
  }

  async createToken(userId: string): Promise<string> {
    const token = newToken();
    await this.ds.getRepository(AccessTokenEntity).insert({ tokenHash: hashToken(token), userId, createdOn: Date.now() });
    return token;
  }

  /** The user a bearer token belongs to, or null for an unknown token: one joined query, as every request pays for it. */
  async authenticate(token: string): Promise<UserEntity | null> {
    return this.ds
      .getRepository(UserEntity)
      .createQueryBuilder('u')
      .innerJoin(AccessTokenEntity, 't', 't.user_id = u.id')
      .where('t.token_hash = :hash', { hash: hashToken(token) })
      .getOne();
  }
}
