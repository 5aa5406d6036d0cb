/**
 * Seeded random draws for the bootstrap of binned counts: a reproducible
 * uniform generator, normal, binomial and multinomial draws. Reproducible so
 * that `fraud-cli models compare` prints the same intervals for the same
 * counts, run after run (and a gate does not flip on a re-run).
 */

/** Uniform draws in [0, 1). */
export type Uniform = () => number;

/** mulberry32: small, fast, good enough for resampling (not for secrets). */
export function seededUniform(seed: number): Uniform {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A standard normal draw (Box–Muller; one of the pair is dropped for simplicity). */
export function normalDraw(uniform: Uniform): number {
  const u = 1 - uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

/** Below this variance the binomial is drawn exactly by inversion; above it the normal approximation is closer than the bootstrap's own noise. */
const EXACT_BELOW_VARIANCE = 100;

/** A Binomial(n, p) draw. */
export function binomialDraw(n: number, p: number, uniform: Uniform): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  // Draw the rarer side: inversion then costs about n·min(p, 1−p) steps.
  if (p > 0.5) return n - binomialDraw(n, 1 - p, uniform);
  const variance = n * p * (1 - p);
  if (variance >= EXACT_BELOW_VARIANCE) {
    const draw = Math.round(n * p + Math.sqrt(variance) * normalDraw(uniform));
    return Math.min(n, Math.max(0, draw));
  }
  // Inversion: walk the probability mass function from 0 until the uniform draw is used up.
  // n·p < 2·EXACT_BELOW_VARIANCE here, so (1 − p)^n stays far above the smallest double.
  const ratio = p / (1 - p);
  let mass = Math.exp(n * Math.log1p(-p));
  let remaining = uniform();
  let k = 0;
  while (remaining > mass && k < n) {
    remaining -= mass;
    mass *= (ratio * (n - k)) / (k + 1);
    k++;
  }
  return k;
}

/** A multinomial draw of `total` items over categories weighted by `weights` (conditional binomials). */
export function multinomialDraw(total: number, weights: readonly number[], uniform: Uniform): number[] {
  let left = total;
  let weightLeft = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => {
    if (left === 0 || weightLeft <= 0) return 0;
    const draw = weight >= weightLeft ? left : binomialDraw(left, weight / weightLeft, uniform);
    left -= draw;
    weightLeft -= weight;
    return draw;
  });
}

/** The q-quantile (0..1) of `values`, linear between order statistics; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] as number;
  return low + ((sorted[above] as number) - low) * (position - below);
}

/**
 * The standard normal quantile (Acklam's rational approximation, relative
 * error below 1.2e-9): z such that P(Z <= z) = p.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normal quantile of ${p}: needs 0 < p < 1`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const horner = (coefficients: readonly number[], x: number): number => coefficients.reduce((sum, coefficient) => sum * x + coefficient, 0);
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return horner(c, q) / (horner(d, q) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (horner(a, r) * q) / (horner(b, r) * r + 1);
}
