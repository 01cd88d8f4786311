// parse-prometheus-text-format ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheusTextFormat = require('parse-prometheus-text-format') as (text: string) => MetricFamily[];

interface Sample {
  labels?: Record<string, string>;
  value?: string;
  count?: string;
  sum?: string;
  buckets?: Record<string, string>;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

/** One /metrics answer, parsed by a Prometheus text parser; figures read by name and labels. */
export class Scrape {
  readonly families: Map<string, MetricFamily>;

  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  family(name: string): MetricFamily {
    const f = this.families.get(name);
    if (!f) throw new Error(`metric ${name} is not in the scrape; it has ${[...this.families.keys()].join(', ')}`);
    return f;
  }

  /** The sum of a counter's or gauge's samples whose labels include `labels` (0 when none match). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, s) => sum + Number(s.value), 0);
  }

  /** A histogram's observation count. */
  count(name: string): number {
    return this.matching(name, {}).reduce((sum, s) => sum + Number(s.count ?? 0), 0);
  }

  private matching(name: string, labels: Record<string, string>): Sample[] {
    return this.family(name).metrics.filter((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  }
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  return new Scrape(text);
}
