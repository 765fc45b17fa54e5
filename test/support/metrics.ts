import { Readable } from 'node:stream';
import { getMetricsFromStream, type PromHistogramData, type PromMetric, type PromMetrics } from 'prom2javascript';

/**
 * A scrape, parsed by a Prometheus text-format parser from npm (prom2javascript), not by the
 * code under test. (parse-prometheus-text-format was tried first: it folds every labelled
 * histogram of a family into one sample, so per-route counts cannot be read with it.)
 */
export class Scrape {
  readonly families: PromMetrics;

  constructor(families: PromMetrics) {
    this.families = families;
  }

  static async parse(text: string): Promise<Scrape> {
    // prom-client writes NaN as `Nan` (the event-loop lag before its first sample), which
    // Prometheus reads (Go's ParseFloat) but this parser has no syntax for: those samples go.
    const lines = text.split('\n').filter((line) => !/ Nan$/.test(line));
    return new Scrape(await getMetricsFromStream(Readable.from([lines.join('\n')])));
  }

  family(name: string): PromMetric {
    const f = this.families[name];
    if (!f) throw new Error(`no metric ${name} in the scrape`);
    return f;
  }

  /** The value of the sample with these labels (among others), 0 when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    const s = (this.family(name).data as Array<{ labels: Record<string, string>; value?: number }>).find((m) => matches(m.labels, labels));
    return s?.value ?? 0;
  }

  /** A histogram's count for these labels, 0 when there is none. */
  count(name: string, labels: Record<string, string> = {}): number {
    const s = (this.family(name).data as PromHistogramData[]).find((m) => matches(m.labels, labels));
    return s?.count ?? 0;
  }

  /** Every value a label takes in a family. */
  labelValues(name: string, label: string): string[] {
    return [...new Set((this.family(name).data as Array<{ labels: Record<string, string> }>).map((m) => m.labels[label]).filter((v): v is string => v !== undefined))];
  }
}

function matches(actual: Record<string, string> | undefined, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => actual?.[k] === v);
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (res.status !== 200) throw new Error(`scrape of ${url}: HTTP ${res.status}`);
  return Scrape.parse(await res.text());
}
