/**
 * Summarizes a V8 .cpuprofile (from `npm run bench -- --cpu-prof`, or any `node --cpu-prof`):
 * the functions with the most self time and inclusive time, and self time per file.
 *
 *   node bench/profile-summary.ts <file.cpuprofile | directory> [--top N] [--filter text] [--from S] [--to S] [--per N]
 *
 * With a directory, the largest profile in it is read (the busiest process). `--from` and
 * `--to` keep the samples taken between those seconds of the profile (a server's profile
 * covers its start-up and idle time too: keep the seconds under load); `--per N` prints µs
 * per unit instead of ms — N requests answered in that window gives µs per request.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, filter: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, per: { type: 'string' } },
});
const target = positionals[0];
const numberOption = (name: 'from' | 'to' | 'per', fallback: number): number => {
  const v = values[name] === undefined ? fallback : Number(values[name]);
  if (!Number.isFinite(v) || v < 0 || (name === 'per' && v <= 0)) {
    process.stderr.write(`--${name} must be a ${name === 'per' ? 'positive ' : 'non-negative '}number\n`);
    process.exit(2);
  }
  return v;
};
const from = numberOption('from', 0);
const to = numberOption('to', Infinity);
const per = values.per === undefined ? undefined : numberOption('per', 1);
if (!target) {
  process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile | directory> [--top N] [--filter text] [--from S] [--to S] [--per N]\n');
  process.exit(2);
}
const file = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]
  : target;
if (!file) {
  process.stderr.write(`no .cpuprofile in ${target}\n`);
  process.exit(1);
}
process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// The samples taken between --from and --to (seconds since the profile started).
const kept: number[] = [];
let elapsed = 0;
profile.samples.forEach((_id, i) => {
  elapsed += profile.timeDeltas[i] ?? 0;
  if (elapsed / 1e6 >= from && elapsed / 1e6 <= to) kept.push(i);
});

// Self time per node: each sample's time delta belongs to the node on top of the stack.
const self = new Map<number, number>();
for (const i of kept) self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const cwd = process.cwd();
function where(n: ProfileNode): string {
  const { url, lineNumber } = n.callFrame;
  if (!url) return '';
  const path = url.startsWith('file://') ? relative(cwd, new URL(url).pathname) : url;
  return `${path}:${lineNumber + 1}`;
}
function key(n: ProfileNode): string {
  return `${n.callFrame.functionName || '(anonymous)'} ${where(n)}`.trim();
}

const selfByKey = new Map<string, number>();
const selfByFile = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  selfByKey.set(key(n), (selfByKey.get(key(n)) ?? 0) + t);
  const f = where(n).replace(/:\d+$/, '') || n.callFrame.functionName;
  const group = f.includes('node_modules/') ? `node_modules/${f.split('node_modules/').pop()!.split('/').slice(0, f.includes('node_modules/@') ? 2 : 1).join('/')}` : f;
  selfByFile.set(group, (selfByFile.get(group) ?? 0) + t);
}

// Inclusive time per function: a sample counts once per distinct function on its stack.
const inclusiveByKey = new Map<string, number>();
kept.forEach((i) => {
  const seen = new Set<string>();
  for (let cur: number | undefined = profile.samples[i]; cur !== undefined; cur = parent.get(cur)) {
    const k = key(byId.get(cur)!);
    if (seen.has(k)) continue;
    seen.add(k);
    inclusiveByKey.set(k, (inclusiveByKey.get(k) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
});

const pct = (t: number) => `${((t / total) * 100).toFixed(1).padStart(5)} %`;
const ms = (t: number) => (per === undefined ? `${(t / 1000).toFixed(0).padStart(7)} ms` : `${(t / per).toFixed(2).padStart(8)} µs`);
const filter = values.filter;
const print = (title: string, m: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  const rows = [...m].filter(([k]) => !filter || k.includes(filter)).sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, t] of rows) process.stdout.write(`${pct(t)} ${ms(t)}  ${k}\n`);
};

const window = values.from === undefined && values.to === undefined ? '' : `, seconds ${from}–${to === Infinity ? 'end' : to} of ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)}`;
const unit = per === undefined ? '' : `; µs per unit of ${per}`;
process.stdout.write(`${file}\n${(total / 1e6).toFixed(1)} s sampled (${kept.length} samples${window})${unit}\n`);
print('Self time by function', selfByKey);
print('Self time by file (dependencies grouped by package)', selfByFile);
print('Inclusive time by function', inclusiveByKey);
