// The scorecard's trend chart (Chart.js, only the parts a line chart needs). The chart is
// a picture of the year-by-year table that follows it, which is its text alternative.
import {
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(CategoryScale, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip);
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
Chart.defaults.color = '#1b1b1b';

// Colours that differ in lightness too, each series also with its own point shape and
// dash, so that colour is never the only signal.
const COLOURS = ['#1d1d1b', '#0b5cad', '#b0421a', '#1e7a3c', '#6b3fa0', '#8a6d00', '#00707a', '#a3195b'];
const POINTS = ['circle', 'rect', 'triangle', 'rectRot', 'crossRot', 'star', 'rectRounded', 'cross'];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [1, 3], [10, 2], [3, 6]];

let chart = null;

/** Draws (or redraws) the chart on `canvas`: `series` is `[{ label, values }]`. */
export function draw(canvas, { labels, series, threshold, title }) {
  destroy();
  const datasets = series.map((s, i) => ({
    label: s.label,
    data: s.values,
    borderColor: COLOURS[i % COLOURS.length],
    backgroundColor: COLOURS[i % COLOURS.length],
    borderDash: DASHES[i % DASHES.length],
    pointStyle: POINTS[i % POINTS.length],
    pointRadius: 5,
    borderWidth: i === 0 ? 3 : 2,
    spanGaps: false,
  }));
  if (threshold !== null && threshold !== undefined) {
    datasets.push({
      label: `Threshold (${threshold} days)`,
      data: labels.map(() => threshold),
      borderColor: '#767676',
      backgroundColor: '#767676',
      borderDash: [2, 6],
      pointRadius: 0,
      borderWidth: 2,
    });
  }
  chart = new Chart(canvas, {
    type: 'line',
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        legend: { position: 'bottom', labels: { usePointStyle: true } },
        tooltip: { enabled: true },
      },
      scales: {
        x: { title: { display: true, text: 'Financial year' } },
        y: { title: { display: true, text: title }, beginAtZero: true },
      },
    },
  });
}

/** Removes the chart, if any. */
export function destroy() {
  if (chart) {
    chart.destroy();
    chart = null;
  }
}
