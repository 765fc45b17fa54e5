import { html, type SafeHtml } from '../../pages/html.ts';

/**
 * A readable reference of the admin API, rendered on the server from the same OpenAPI
 * document clients download: every operation with its summary, parameters, request body
 * schema and answers. No script (the page shares the sign-in pages' CSP and stylesheet).
 */
export function referencePage(document: object): string {
  const doc: Record<string, unknown> = { ...document };
  const info = doc.info as { title: string; description?: string; version: string };
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Operation>>;
  const schemas = ((doc.components as { schemas?: Record<string, Schema> } | undefined)?.schemas ?? {}) as Record<string, Schema>;
  const byTag = new Map<string, Array<{ method: string; path: string; op: Operation }>>();
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ method: method.toUpperCase(), path, op });
    }
  }
  const sections: SafeHtml[] = [];
  for (const [tag, ops] of byTag) {
    sections.push(html`<section id="${tag}"><h2>${tag}</h2>
${ops.map(
  ({ method, path, op }) => html`<article class="op">
<h3><span class="method method--${method.toLowerCase()}">${method}</span> <code>${path}</code></h3>
${op.summary ? html`<p>${op.summary}</p>` : ''}
${params(op)}
${op.requestBody ? html`<p class="small muted">Body (application/json):</p>${schemaTable(resolve(op.requestBody.content?.['application/json']?.schema, schemas), schemas)}` : ''}
<p class="small muted">Answers: ${Object.keys(op.responses ?? {}).join(', ')}</p>
</article>`,
)}
</section>`);
  }
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${info.title} · Tessera</title><link rel="stylesheet" href="/assets/tessera.css"></head>
<body class="doc"><main class="card card--doc">
<header class="brand" aria-label="Tessera"><span class="brand__mark" aria-hidden="true"></span>Tessera</header>
<h1>${info.title} v${info.version}</h1>
<p>${info.description ?? ''}</p>
<p class="small">Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI ${String(doc.openapi)}).</p>
<nav aria-label="Resources"><ul class="toc">${[...byTag.keys()].map((t) => html`<li><a href="#${t}">${t}</a></li>`)}</ul></nav>
${sections}
</main></body></html>`.value;
}

interface Operation {
  tags?: string[];
  summary?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema; description?: string }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, unknown>;
}

interface Schema {
  $ref?: string;
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
}

function resolve(schema: Schema | undefined, schemas: Record<string, Schema>): Schema | undefined {
  if (schema?.$ref) return schemas[schema.$ref.split('/').pop()!] ?? schema;
  return schema;
}

function typeOf(schema: Schema | undefined, schemas: Record<string, Schema>): string {
  const s = resolve(schema, schemas);
  if (!s) return '';
  if (s.enum) return s.enum.map(String).join(' | ');
  if (s.anyOf) return s.anyOf.map((x) => typeOf(x, schemas)).join(' | ');
  if (s.type === 'array') return `${typeOf(s.items, schemas)}[]`;
  return Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'object');
}

function params(op: Operation): SafeHtml | string {
  if (!op.parameters?.length) return '';
  return html`<p class="small muted">Parameters:</p><table class="schema"><tbody>${op.parameters.map(
    (p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}${p.required ? ', required' : ''}</td><td>${p.schema?.type ?? ''}</td><td>${p.description ?? p.schema?.description ?? ''}</td></tr>`,
  )}</tbody></table>`;
}

function schemaTable(schema: Schema | undefined, schemas: Record<string, Schema>): SafeHtml | string {
  if (!schema?.properties) return '';
  const required = new Set(schema.required ?? []);
  return html`<table class="schema"><tbody>${Object.entries(schema.properties).map(
    ([name, s]) => html`<tr><td><code>${name}</code></td><td>${typeOf(s, schemas)}${required.has(name) ? ', required' : ''}</td><td>${resolve(s, schemas)?.description ?? ''}</td></tr>`,
  )}</tbody></table>`;
}
