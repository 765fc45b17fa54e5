import type { IConfiguration, IForbiddenRuleType } from 'dependency-cruiser';

/**
 * Which `src/` folder may import which (docs/architecture.md, "Layers"). Checked by
 * test/architecture/boundaries.test.ts inside `npm test`; `npx depcruise src` prints the same.
 *
 * Bottom → top: a folder may import only folders in tiers below its own. Folders sharing a tier
 * do not import each other. Files directly in `src/` (clock.ts, errors.ts) count as `lib`.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['lib'], // pure helpers: time, text, crypto, scope names; no I/O, no state
  ['i18n'], // message catalogues, locale negotiation, ICU formatting (docs/languages.md)
  ['config'],
  ['storage'], // database, schema, migrations, change feed
  ['audit'],
  ['keys'],
  ['identity'], // users, roles, sessions
  ['clients'], // apps (reads users for their on-behalf-of user)
  ['oauth'], // protocol core: framework-free
  ['gateway', 'admin', 'federation', 'email'], // federation: sign-in with upstream identity providers; email: mail, reset, verification, invitations
  ['app'], // composition root
  ['observability'], // reads the composed app
  ['pages'],
  ['http'],
  ['cli'],
];

/** The path pattern of a folder; `lib` also covers the files directly in `src/`. */
export function folderPattern(folder: string): string {
  return folder === 'lib' ? '^src/(lib/|[^/]+$)' : `^src/${folder}/`;
}

const layerRules: IForbiddenRuleType[] = LAYERS.flatMap((tier, index) => {
  const above = LAYERS.slice(index + 1).flat();
  return tier.flatMap((folder) => {
    const forbidden = [...above, ...tier.filter((other) => other !== folder)];
    if (forbidden.length === 0) return [];
    const allowed = LAYERS.slice(0, index).flat();
    const rule: IForbiddenRuleType = {
      name: `layer-${folder}`,
      comment: `src/${folder} may import only ${allowed.length ? allowed.join(', ') : 'nothing else in src'} (not ${forbidden.join(', ')})`,
      severity: 'error' as const,
      from: { path: folderPattern(folder) },
      to: { path: forbidden.map(folderPattern) },
    };
    return [rule];
  });
});

const config: IConfiguration = {
  forbidden: [
    ...layerRules,
    {
      name: 'fastify-only-in-http',
      comment: 'Fastify is the edge: the protocol core, services and stores never import it (DESIGN.md, Architecture)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/http/' },
      to: { path: '(^|/)node_modules/(fastify|@fastify)/' },
    },
    {
      name: 'no-folder-cycles',
      comment: 'folders (sub-folders included) import each other in one direction only',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycles',
      comment: 'modules import each other in one direction only (type-only imports included)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-from-tests',
      comment: 'production code never imports test, bench or script code',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    // TypeScript 7.0 ships no in-process compiler API for dependency-cruiser; swc parses instead.
    parser: 'swc',
    // Type-only imports couple folders as much as value imports do.
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.css$' },
  },
};

export default config;
