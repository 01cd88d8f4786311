import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
export { GraphQLJSON as JSONScalar } from 'graphql-scalars';

function toLong(value: unknown): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new GraphQLError(`Long must be a whole number (epoch milliseconds), got ${JSON.stringify(value)}`);
  return n;
}

/** Whole numbers beyond Int's 32 bits: epoch milliseconds, byte and record counts. */
export const LongScalar = new GraphQLScalarType({
  name: 'Long',
  description: 'A 53-bit integer: epoch milliseconds unless said otherwise, or a count',
  serialize: (v) => toLong(v),
  parseValue: (v) => toLong(v),
  parseLiteral: (ast) => {
    if (ast.kind === Kind.INT || ast.kind === Kind.STRING) return toLong(ast.value);
    throw new GraphQLError('Long must be a whole number (epoch milliseconds)');
  },
});
