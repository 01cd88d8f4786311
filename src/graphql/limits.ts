import { ApolloServerPlugin } from '@apollo/server';
import {
  ASTVisitor, DocumentNode, FieldNode, FragmentDefinitionNode, GraphQLError, GraphQLSchema, Kind, parse, SelectionSetNode, specifiedRules,
  validate, ValidationContext,
} from 'graphql';
import { ComplexityEstimator, getComplexity } from 'graphql-query-complexity';

/**
 * The limits every operation meets before it runs, on HTTP (Apollo) and on WebSocket (graphql-ws) alike:
 * document size, depth, and cost, where a field that reads the database costs as such.
 */
export const MAX_DEPTH = 12;
/** Introspection nests `ofType` to describe wrapped types: graphql-js getIntrospectionQuery() is 15 deep. */
export const MAX_INTROSPECTION_DEPTH = 16;
export const MAX_COMPLEXITY = 20_000;
/** Tokens a document may have: a bound on parse work and on the nodes every later step walks. */
export const MAX_TOKENS = 10_000;
/**
 * A JSON body or WebSocket message larger than this is refused before it is parsed. The largest sensible
 * request (a 64 KB filter, 1 000 metric names, the query) fits well; parsing JSON costs the event loop
 * about 0.1 ms a KB on a busy machine, so twelve 1 MB bodies at once would stall it for a second.
 */
export const MAX_GRAPHQL_BYTES = 256 * 1024;
/**
 * Fields one selection set may hold: validation compares fields of a selection set pairwise (graphql-js
 * OverlappingFieldsCanBeMerged), so thousands of aliases would cost the event loop a quadratic time.
 */
export const MAX_SELECTIONS = 1000;
/**
 * Times one selection set may ask for the same field under different aliases. Each alias is validated,
 * costed and resolved on its own: 1 000 aliases of usageRemaining held the event loop 120 ms, and no
 * client needs a field more than a few times in one place.
 */
export const MAX_SAME_FIELD = 50;
/** What one field that runs a database statement costs, next to 1 for a field read from memory. */
export const DB_FIELD_COST = 10;

/** Fields whose resolver queries the database each time it runs (per item, inside lists). */
const DB_FIELDS = new Set([
  'Query.dataset', 'Query.estimateExport',
  'User.datasets', 'User.export', 'User.exports', 'User.usageRemaining',
  'DataExport.dataRange', 'Dataset.metrics',
]);
/** Every field of these types writes or reads the database. */
const DB_TYPES = new Set(['Mutation', 'ExportMutation', 'DatasetMutation']);

export const parseOptions = { maxTokens: MAX_TOKENS };

function depthOf(set: SelectionSetNode | undefined, fragments: Record<string, FragmentDefinitionNode>, seen: Set<string>): number {
  if (!set) return 0;
  let max = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      max = Math.max(max, (sel as FieldNode).selectionSet ? 1 + depthOf((sel as FieldNode).selectionSet, fragments, seen) : 1);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      max = Math.max(max, depthOf(sel.selectionSet, fragments, seen));
    } else if (sel.kind === Kind.FRAGMENT_SPREAD && !seen.has(sel.name.value) && fragments[sel.name.value]) {
      max = Math.max(max, depthOf(fragments[sel.name.value].selectionSet, fragments, new Set([...seen, sel.name.value])));
    }
  }
  return max;
}

/** The operation's root fields, through any fragments at the root. */
function rootFields(set: SelectionSetNode, fragments: Record<string, FragmentDefinitionNode>, seen = new Set<string>()): FieldNode[] {
  return set.selections.flatMap((sel) => {
    if (sel.kind === Kind.FIELD) return [sel];
    if (sel.kind === Kind.INLINE_FRAGMENT) return rootFields(sel.selectionSet, fragments, seen);
    const fragment = fragments[sel.name.value];
    if (seen.has(sel.name.value) || !fragment) return [];
    return rootFields(fragment.selectionSet, fragments, new Set([...seen, sel.name.value]));
  });
}

const INTROSPECTION_ROOTS = ['__schema', '__type'];

/** Refuses queries nested deeper than MAX_DEPTH (introspection: MAX_INTROSPECTION_DEPTH) before anything runs. */
export function depthLimitRule(context: ValidationContext): ASTVisitor {
  const doc = context.getDocument();
  const fragments = Object.fromEntries(
    doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return {
    OperationDefinition(op) {
      let plain = 0;
      let introspection = 0;
      for (const field of rootFields(op.selectionSet, fragments)) {
        const depth = 1 + depthOf(field.selectionSet, fragments, new Set());
        if (INTROSPECTION_ROOTS.includes(field.name.value)) introspection = Math.max(introspection, depth);
        else plain = Math.max(plain, depth);
      }
      if (plain > MAX_DEPTH) context.reportError(new GraphQLError(`the query is ${plain} levels deep; at most ${MAX_DEPTH} are allowed`));
      if (introspection > MAX_INTROSPECTION_DEPTH) {
        context.reportError(new GraphQLError(`the introspection query is ${introspection} levels deep; at most ${MAX_INTROSPECTION_DEPTH} are allowed`));
      }
    },
  };
}

/** A page field costs its items times the page size; a field that queries the database costs DB_FIELD_COST. */
const costEstimator: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  const own = DB_TYPES.has(type.name) || DB_FIELDS.has(`${type.name}.${field.name}`) ? DB_FIELD_COST : 1;
  const paged = field.args.some((a) => a.name === 'limit');
  const items = typeof args.limit === 'number' && args.limit > 0 ? args.limit : paged ? 25 : 1;
  return own + childComplexity * items;
};

/** The cost of an operation with its variables known; a GraphQLError (400) when it is too high. */
export function costError(schema: GraphQLSchema, document: DocumentNode, variables?: Record<string, unknown> | null, operationName?: string | null): GraphQLError | null {
  const complexity = getComplexity({ schema, query: document, variables: variables ?? {}, operationName: operationName ?? undefined, estimators: [costEstimator] });
  if (complexity <= MAX_COMPLEXITY) return null;
  return new GraphQLError(`the query costs ${complexity} points; at most ${MAX_COMPLEXITY} are allowed: ask for smaller pages or fewer fields (a field that reads the database costs ${DB_FIELD_COST})`, {
    extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } },
  });
}

/** Refuses too costly operations, with the variables known, before they execute (HTTP). */
export function complexityPlugin(schema: GraphQLSchema): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          const err = costError(schema, document, request.variables, request.operationName);
          if (err) throw err;
        },
      };
    },
  };
}

const tooComplex = (message: string) => new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } } });

/**
 * The error of the widest selection set, or of one asking for a field too many times, checked before
 * validation so validation stays cheap.
 */
export function breadthError(document: DocumentNode): GraphQLError | null {
  let widest = 0;
  let repeated: { name: string; times: number } | undefined;
  const stack: SelectionSetNode[] = [];
  for (const def of document.definitions) if ('selectionSet' in def && def.selectionSet) stack.push(def.selectionSet);
  while (stack.length) {
    const set = stack.pop()!;
    widest = Math.max(widest, set.selections.length);
    if (set.selections.length > MAX_SAME_FIELD && !repeated) {
      const times = new Map<string, number>();
      for (const sel of set.selections) {
        if (sel.kind !== Kind.FIELD) continue;
        const n = (times.get(sel.name.value) ?? 0) + 1;
        times.set(sel.name.value, n);
        if (n > MAX_SAME_FIELD) repeated = { name: sel.name.value, times: n };
      }
      if (repeated) repeated.times = times.get(repeated.name)!;
    }
    for (const sel of set.selections) if (sel.kind !== Kind.FRAGMENT_SPREAD && sel.selectionSet) stack.push(sel.selectionSet);
  }
  if (widest > MAX_SELECTIONS) return tooComplex(`the query selects ${widest} fields in one selection set; at most ${MAX_SELECTIONS} are allowed`);
  if (repeated) {
    return tooComplex(`the query asks for "${repeated.name}" ${repeated.times} times in one selection set (under aliases); at most ${MAX_SAME_FIELD} are allowed: ask for it once and reuse the answer`);
  }
  return null;
}

/** The document, parsed with the token bound and checked for breadth; or the error to answer with. */
export function parseBounded(query: string): DocumentNode | GraphQLError {
  let document: DocumentNode;
  try {
    document = parse(query, parseOptions);
  } catch (err) {
    // graphql-js words this "Document contains more that 10000 tokens. Parsing aborted."
    if (err instanceof GraphQLError && /contains more th\w+ \d+ tokens/.test(err.message)) {
      return tooComplex(`the query has more than ${MAX_TOKENS} tokens (names, punctuation, values); at most ${MAX_TOKENS} are allowed: ask for fewer fields, or pass long values as variables`);
    }
    return err instanceof GraphQLError ? err : new GraphQLError(`the query could not be parsed: ${(err as Error).message}`);
  }
  return breadthError(document) ?? document;
}

/**
 * The same limits for an operation that arrives over graphql-ws: parse with the token bound, the
 * standard rules plus depth, then cost. Errors go back to the client on that operation only.
 */
export function checkSocketOperation(
  schema: GraphQLSchema,
  payload: { query: string; variables?: Record<string, unknown> | null; operationName?: string | null },
): { document: DocumentNode } | { errors: GraphQLError[] } {
  const document = parseBounded(payload.query);
  if (document instanceof GraphQLError) return { errors: [document] };
  const errors = validate(schema, document, [...specifiedRules, depthLimitRule]);
  if (errors.length) return { errors: [...errors] };
  try {
    const err = costError(schema, document, payload.variables, payload.operationName);
    if (err) return { errors: [err] };
  } catch (err) {
    // getComplexity coerces the variables: a bad one is the client's error, not ours.
    return { errors: [err instanceof GraphQLError ? err : new GraphQLError((err as Error).message)] };
  }
  return { document };
}
