import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/**
 * A small MCP server built with the official SDK, meant to sit behind Tessera's gateway: it
 * trusts the gateway's `X-Tessera-*` identity headers and never sees the client's token (the
 * API is registered with Authorization forwarding off). `list_notes` needs only what the
 * gateway's route asked for; `delete_note` needs the `notes.admin` scope, which it checks
 * itself (one MCP endpoint serves every tool, so the per-tool scope is the server's to check).
 */
export interface TestMcpServer {
  url: string;
  /** Headers of every request that reached the server. */
  seen: IncomingHttpHeaders[];
  deleted: number;
  close(): Promise<void>;
}

export async function startMcpServer(): Promise<TestMcpServer> {
  const seen: IncomingHttpHeaders[] = [];
  const state = { deleted: 0 };
  const build = () => {
    const mcp = new McpServer({ name: 'notes', version: '1.0.0' });
    mcp.tool('list_notes', 'Lists your notes', async (extra) => {
      const subject = String(extra.requestInfo?.headers['x-tessera-subject'] ?? '');
      return { content: [{ type: 'text', text: `notes of ${subject}: groceries, ideas` }] };
    });
    mcp.tool('delete_note', 'Deletes a note (needs notes.admin)', async (extra) => {
      const scopes = String(extra.requestInfo?.headers['x-tessera-scope'] ?? '').split(' ');
      if (!scopes.includes('notes.admin')) {
        return { isError: true, content: [{ type: 'text', text: 'insufficient_scope: delete_note needs the notes.admin scope' }] };
      }
      state.deleted++;
      return { content: [{ type: 'text', text: 'deleted' }] };
    });
    return mcp;
  };
  const server: Server = createServer((req, res) => {
    seen.push(req.headers);
    // Stateless: a server and transport per request (the SDK's documented stateless mode).
    const mcp = build();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close().catch(() => undefined);
      mcp.close().catch(() => undefined);
    });
    mcp
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
      });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    get deleted() {
      return state.deleted;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
