import type { Logger } from '../../src/lib/logger.ts';

export interface LogEntry {
  level: 'error' | 'warn' | 'info';
  message: string;
  context: Record<string, unknown>;
}

/** A Logger that keeps what it is told, so a test can assert that a failure was reported. */
export function recordingLogger(): Logger & { entries: LogEntry[]; messages(level?: LogEntry['level']): string[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (context: Record<string, unknown>, message: string) => {
    entries.push({ level, message, context });
  };
  return {
    entries,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    messages: (level) => entries.filter((e) => level === undefined || e.level === level).map((e) => e.message),
  };
}
