// The table of scripts/bench-compare: reads the runs' JSON in a directory
// (round<R>-<shape>-<system>.json) and prints, per shape, each system's median throughput
// and CPU per request, and the median over the rounds of Permanence ÷ PostGraphile.
//
//   node summarize.mjs DIR
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node summarize.mjs DIR");
  process.exit(2);
}

const runs = {}; // shape -> system -> round -> scenario report
for (const file of readdirSync(dir)) {
  const m = /^round(\d+)-(\w+)-(permanence|postgraphile|pgbench)\.json$/.exec(file);
  if (!m) continue;
  const [, round, shape, system] = m;
  const report = JSON.parse(readFileSync(join(dir, file), "utf8")).scenarios[0];
  ((runs[shape] ??= {})[system] ??= {})[round] = report;
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
const fmt = (x, digits = 0) =>
  Number.isFinite(x) ? x.toLocaleString("en-GB", { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–";

console.log(
  "| shape | Permanence req/s | PostGraphile req/s | pgbench tx/s | Permanence ÷ PostGraphile, median of rounds (range) | server CPU ms/req, Permanence / PostGraphile | database CPU ms/req, Permanence / PostGraphile / pgbench | errors |",
);
console.log("|---|---|---|---|---|---|---|---|");
let failed = 0;
for (const shape of ["child", "page", "nested", "pool"]) {
  const bySystem = runs[shape];
  if (!bySystem) continue;
  const series = (system, f) => Object.values(bySystem[system] ?? {}).map(f);
  const rounds = Object.keys(bySystem.permanence ?? {}).filter((r) => bySystem.postgraphile?.[r]);
  const ratios = rounds.map((r) => bySystem.permanence[r].throughput / bySystem.postgraphile[r].throughput);
  const errors = ["permanence", "postgraphile"].flatMap((s) => series(s, (r) => r.unexpectedErrors)).reduce((a, b) => a + b, 0);
  failed += errors;
  console.log(
    `| ${shape} | ${fmt(median(series("permanence", (r) => r.throughput)))} | ${fmt(median(series("postgraphile", (r) => r.throughput)))} | ${fmt(median(series("pgbench", (r) => r.throughput)))} | ${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}) | ${fmt(median(series("permanence", (r) => r.serverCpuMs)), 3)} / ${fmt(median(series("postgraphile", (r) => r.serverCpuMs)), 3)} | ${fmt(median(series("permanence", (r) => r.databaseCpuMs)), 3)} / ${fmt(median(series("postgraphile", (r) => r.databaseCpuMs)), 3)} / ${fmt(median(series("pgbench", (r) => r.databaseCpuMs)), 3)} | ${errors} |`,
  );
}
if (failed > 0) {
  console.error(`summarize.mjs: ${failed} errors in the runs`);
  process.exit(1);
}
