import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type SerializerFactory = ReturnType<typeof SerializerSelector>;

/**
 * Fastify's response serializers (fast-json-stringify, the same ones Fastify builds by
 * default), each compiled the first time its route answers with that status instead of all
 * at `ready()`. Compiling every response schema of the admin API took ~0.9 s of every start
 * of the HTTP app (validating each schema against the meta-schema was 40 % of it): the
 * start of `tessera serve`, and of every server a test starts. A route pays its compile
 * (milliseconds) on its first answer; most routes of a given process are never called.
 * Output is unchanged: the same compiler with the same options, only later.
 *
 * `eager` keeps Fastify's default (all at `ready()`): a test builds the app that way to
 * prove every response schema compiles, since lazily a broken one would fail only when
 * its route first answered.
 */
export function responseSerializers(mode: 'lazy' | 'eager'): SerializerFactory {
  const build = SerializerSelector();
  if (mode === 'eager') return build;
  return (externalSchemas, options) => {
    const compile = build(externalSchemas, options);
    return (route) => {
      let serialize: ((doc: unknown) => string) | undefined;
      return (doc) => (serialize ??= compile(route))(doc);
    };
  };
}
