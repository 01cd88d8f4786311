import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, GraphQLNamedType, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isScalarType, isUnionType } from 'graphql';

/** Users read schema.graphql as their reference: every type, field, argument and enum value says what it is. */
function undescribed(sdl: string): string[] {
  const schema = buildSchema(sdl);
  const missing: string[] = [];
  const has = (d: string | null | undefined) => Boolean(d && d.trim());
  for (const type of Object.values(schema.getTypeMap()) as GraphQLNamedType[]) {
    if (type.name.startsWith('__') || ['String', 'Int', 'Float', 'Boolean', 'ID'].includes(type.name)) continue;
    if (!has(type.description)) missing.push(`type ${type.name}`);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (!has(field.description)) missing.push(`field ${type.name}.${field.name}`);
        for (const arg of field.args) if (!has(arg.description)) missing.push(`argument ${type.name}.${field.name}(${arg.name})`);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) if (!has(field.description)) missing.push(`input field ${type.name}.${field.name}`);
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) if (!has(value.description)) missing.push(`enum value ${type.name}.${value.name}`);
    } else if (!isScalarType(type) && !isUnionType(type)) {
      missing.push(`unexpected kind of type ${(type as GraphQLNamedType).name}`);
    }
  }
  return missing;
}

test('every type, field, argument and enum value in schema.graphql has a description', () => {
  const sdl = fs.readFileSync(path.join(__dirname, '..', '..', 'schema.graphql'), 'utf8');
  expect(undescribed(sdl)).toEqual([]);
});

test('the check finds an undescribed field, argument and enum value', () => {
  const sdl = `"""q""" type Query { """f""" a(x: Int): Int  b: Int }  """e""" enum E { """v""" V W }`;
  expect(undescribed(sdl)).toEqual(['argument Query.a(x)', 'field Query.b', 'enum value E.W']);
});
