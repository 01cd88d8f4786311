import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An export's parameters hold its filter, which may be up to 64 KB of JSON (SPEC §8), plus its metric
 * list: more than MySQL's TEXT (65 535 bytes) can keep, which failed such exports with "Data too long
 * for column 'params'". SQLite's TEXT has no such limit.
 */
export class ParamsMediumText1764200000000 implements MigrationInterface {
  name = 'ParamsMediumText1764200000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'better-sqlite3') return;
    await q.query('ALTER TABLE data_export MODIFY params MEDIUMTEXT NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'better-sqlite3') return;
    await q.query('ALTER TABLE data_export MODIFY params TEXT NOT NULL');
  }
}
