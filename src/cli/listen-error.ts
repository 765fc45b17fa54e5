// Its own module: report-error.ts needs the class, and must not load the HTTP server with serve.ts.

/** The server cannot listen where it was told to (exit code 6, docs/operations.md). */
export class ListenError extends Error {}

/** The operator's one line for the usual reasons a listen fails; any other error passes through. */
export function listenError(server: { host: string; port: number }, error: unknown): Error {
  const code = (error as { code?: string }).code;
  const where = `${server.host}:${server.port}`;
  const reasons: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (another Tessera or another program?); choose another with --port or TESSERA_PORT',
    EACCES: 'permission denied (ports below 1024 need privileges); choose another with --port or TESSERA_PORT',
    EADDRNOTAVAIL: 'the address is not one of this machine\'s; check --host or TESSERA_HOST',
    ENOTFOUND: 'the host name does not resolve; check --host or TESSERA_HOST',
    EAI_AGAIN: 'the host name does not resolve; check --host or TESSERA_HOST',
  };
  const reason = code ? reasons[code] : undefined;
  return reason ? new ListenError(`cannot listen on ${where}: ${reason}`) : (error as Error);
}
