/**
 * Projects: pure unit tests, the e2e suite twice (once per store, DB=sqlite|mysql), and the slower
 * faults and security suites with their own npm scripts.
 * `npm test` builds first: the e2e tests start the real compiled server.
 */
// Tests are transpiled file by file (fast); `npm run build` type-checks everything first.
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.jest.json', diagnostics: false }];
const common = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  testTimeout: 120_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts', '<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'e2e-sqlite', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], setupFiles: ['<rootDir>/test/e2e/use-sqlite.ts'] },
    { ...common, displayName: 'e2e-mysql', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], setupFiles: ['<rootDir>/test/e2e/use-mysql.ts'] },
    // Fleet and fault tests on MariaDB: processes killed, paused and starved on purpose (npm run test:faults).
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'], setupFiles: ['<rootDir>/test/e2e/use-mysql.ts'] },
    // The attacks of issue 10, each on SQLite and on MariaDB, with the stall another user sees (npm run test:security).
    { ...common, displayName: 'security', testMatch: ['<rootDir>/test/security/**/*.test.ts'] },
  ],
};
