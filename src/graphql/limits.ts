import { ApolloServerPlugin } from '@apollo/server';
import { ASTVisitor, FieldNode, FragmentDefinitionNode, GraphQLError, GraphQLSchema, Kind, SelectionSetNode, ValidationContext } from 'graphql';
import { ComplexityEstimator, getComplexity } from 'graphql-query-complexity';

export const MAX_DEPTH = 12;
export const MAX_COMPLEXITY = 20_000;

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

/** Refuses queries nested deeper than MAX_DEPTH before anything runs. */
export function depthLimitRule(context: ValidationContext): ASTVisitor {
  const doc = context.getDocument();
  const fragments = Object.fromEntries(
    doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  return {
    OperationDefinition(op) {
      const depth = depthOf(op.selectionSet, fragments, new Set());
      if (depth > MAX_DEPTH) context.reportError(new GraphQLError(`the query is ${depth} levels deep; at most ${MAX_DEPTH} are allowed`));
    },
  };
}

/** A page field costs its items times the page size. */
const pageEstimator: ComplexityEstimator = ({ args, childComplexity }) =>
  1 + childComplexity * (typeof args.limit === 'number' && args.limit > 0 ? args.limit : 'limit' in args ? 25 : 1);

/** Refuses too costly operations, with the variables known, before they execute. */
export function complexityPlugin(schema: GraphQLSchema): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          const complexity = getComplexity({ schema, query: document, variables: request.variables, operationName: request.operationName, estimators: [pageEstimator] });
          if (complexity > MAX_COMPLEXITY) {
            throw new GraphQLError(`the query costs ${complexity} points; at most ${MAX_COMPLEXITY} are allowed: ask for smaller pages or fewer fields`, {
              extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } },
            });
          }
        },
      };
    },
  };
}
