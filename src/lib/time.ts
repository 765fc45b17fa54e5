/** An epoch-seconds timestamp as an ISO 8601 string (UTC), the way operators see times. */
export function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}
