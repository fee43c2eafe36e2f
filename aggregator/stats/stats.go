// Package stats holds the statistics behind rankings and before/after studies: the Wilson
// interval of a proportion, exact Poisson intervals (also for a weighted sum of counts) and the
// conditional test for two Poisson rates. Pure functions, standard library only, no SQL.
package stats

import "math"

// Z95 is the standard normal quantile for a two-sided 95 % interval.
const Z95 = 1.959963984540054

// alpha is one minus the confidence of every interval here (95 %).
const alpha = 0.05

// Wilson returns the 95 % Wilson score interval of the proportion k/n. It needs 0 ≤ k ≤ n and
// n > 0; otherwise it returns 0, 1 (nothing is known). At k = 0 the low end is exactly 0.
func Wilson(k, n int) (low, high float64) {
	if n <= 0 || k < 0 || k > n {
		return 0, 1
	}
	z := Z95
	p, fn := float64(k)/float64(n), float64(n)
	d := 1 + z*z/fn
	c := (p + z*z/(2*fn)) / d
	h := z * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn)) / d
	low, high = math.Max(0, c-h), math.Min(1, c+h)
	if k == 0 {
		low = 0
	}
	if k == n {
		high = 1
	}
	return low, high
}

// Poisson returns the exact (Garwood) 95 % interval of the mean of a Poisson count k: the
// means for which seeing k or more, or k or fewer, has probability 2.5 %. k must be ≥ 0.
func Poisson(k int) (low, high float64) {
	return Weighted(float64(k), float64(k), 1)
}

// Weighted returns the 95 % gamma interval of Fay and Feuer (1997) for the mean of a weighted
// sum of Poisson counts Σ wᵢkᵢ: y is the sum, v = Σ wᵢ²kᵢ its variance estimate and wMax the
// largest weight any count could have (which widens the upper end, so that a sum of 0 still
// has an upper bound). With every weight 1 it is the exact Poisson interval. y, v ≥ 0, wMax > 0.
func Weighted(y, v, wMax float64) (low, high float64) {
	if y > 0 && v > 0 {
		low = v / y * GammaQuantile(alpha/2, y*y/v)
	}
	y1, v1 := y+wMax, v+wMax*wMax
	high = v1 / y1 * GammaQuantile(1-alpha/2, y1*y1/v1)
	return low, high
}

// RatioTest is the comparison of two Poisson rates, k1 events over exposure n1 against k2 over
// n2 (after against before, say).
type RatioTest struct {
	Ratio float64 // (k1/n1) / (k2/n2); +Inf when k2 = 0 < k1, NaN when both are 0
	Low   float64 // 95 % interval of the ratio; 0 when k1 = 0
	High  float64 // +Inf when k2 = 0
	P     float64 // two-sided p-value of the hypothesis that both rates are equal
}

// RateRatio compares two Poisson rates by the conditional (binomial) method: given the total
// k1+k2, k1 is binomial with p = n1/(n1+n2) when the rates are equal. The p-value is the exact
// two-sided binomial test (the probabilities of every outcome no more likely than k1's, as R's
// binom.test and poisson.test), the interval the Clopper–Pearson interval of p turned into a
// rate ratio, r = p/(1−p) · n2/n1. n1 and n2 must be positive.
func RateRatio(k1 int, n1 float64, k2 int, n2 float64) RatioTest {
	n := k1 + k2
	t := RatioTest{Ratio: (float64(k1) / n1) / (float64(k2) / n2), Low: 0, High: math.Inf(1), P: 1}
	if n == 0 {
		t.Ratio = math.NaN()
		return t
	}
	p0 := n1 / (n1 + n2)
	t.P = binomialTwoSided(k1, n, p0)
	toRatio := func(p float64) float64 {
		if p >= 1 {
			return math.Inf(1)
		}
		return p / (1 - p) * n2 / n1
	}
	if k1 > 0 {
		t.Low = toRatio(BetaQuantile(alpha/2, float64(k1), float64(n-k1+1)))
	}
	if k1 < n {
		t.High = toRatio(BetaQuantile(1-alpha/2, float64(k1+1), float64(n-k1)))
	}
	return t
}

// binomialTwoSided is the exact two-sided p-value of k successes in n trials of probability p:
// the total probability of the outcomes at most as likely as k (with R's relative tolerance
// of 1e-7 for ties).
func binomialTwoSided(k, n int, p float64) float64 {
	dk := binomialPMF(k, n, p) * (1 + 1e-7)
	sum := 0.0
	for i := 0; i <= n; i++ {
		if d := binomialPMF(i, n, p); d <= dk {
			sum += d
		}
	}
	return math.Min(1, sum)
}

// binomialPMF is P(X = k) for X binomial(n, p).
func binomialPMF(k, n int, p float64) float64 {
	switch {
	case p <= 0:
		return b2f(k == 0)
	case p >= 1:
		return b2f(k == n)
	}
	lc, _ := math.Lgamma(float64(n + 1))
	l1, _ := math.Lgamma(float64(k + 1))
	l2, _ := math.Lgamma(float64(n - k + 1))
	return math.Exp(lc - l1 - l2 + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// GammaP is the regularized lower incomplete gamma function P(a, x), a > 0, x ≥ 0: the
// probability that a gamma(a, 1) variable is at most x.
func GammaP(a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 { // series
		sum, del, ap := 1/a, 1/a, a
		for range 10000 {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return sum * math.Exp(-x+a*math.Log(x)-lg)
	}
	// continued fraction for Q (modified Lentz)
	const tiny = 1e-300
	b := x + 1 - a
	c, d := 1/tiny, 1/b
	h := d
	for i := 1; i < 10000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return 1 - math.Exp(-x+a*math.Log(x)-lg)*h
}

// GammaQuantile returns x with GammaP(a, x) = p, for 0 < p < 1 and a > 0, to about 1e-13
// relative.
func GammaQuantile(p, a float64) float64 {
	x, _ := gammaQuantile(p, a)
	return x
}

// gammaQuantile is GammaQuantile and how many times it evaluated GammaP. Newton's method from
// the Wilson–Hilferty approximation, kept inside a bracket of the root (a step that leaves it
// bisects instead), takes a handful of evaluations where bisection alone took about 60: a
// ranking of 200 sites computes 400 quantiles of a in the thousands, each GammaP a series of
// hundreds of terms (docs/BENCHMARKS.md, "Rollups").
func gammaQuantile(p, a float64) (x float64, evals int) {
	lo, hi := 0.0, math.Max(1, 2*a)
	for evals++; GammaP(a, hi) < p; evals++ {
		lo, hi = hi, 2*hi
	}
	lg, _ := math.Lgamma(a)
	z, g := math.Sqrt2*math.Erfinv(2*p-1), 1/(9*a)
	x = a * math.Pow(1-g+z*math.Sqrt(g), 3)
	if !(x > lo && x < hi) { // the approximation is poor for small a
		x = (lo + hi) / 2
	}
	for range 200 {
		evals++
		f := GammaP(a, x) - p
		if f == 0 {
			return x, evals
		}
		if f < 0 {
			lo = x
		} else {
			hi = x
		}
		next := x - f/math.Exp((a-1)*math.Log(x)-x-lg) // the density is P's derivative
		if !(next > lo && next < hi) {
			next = (lo + hi) / 2
		}
		if math.Abs(next-x) <= 1e-13*x || next == lo || next == hi {
			return next, evals
		}
		x = next
	}
	return x, evals
}

// BetaI is the regularized incomplete beta function I_x(a, b), a, b > 0, 0 ≤ x ≤ 1: the
// probability that a beta(a, b) variable is at most x.
func BetaI(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(x, a, b) / a
	}
	return 1 - front*betaCF(1-x, b, a)/b
}

// betaCF is the continued fraction of the incomplete beta function (modified Lentz).
func betaCF(x, a, b float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m < 10000; m++ {
		fm := float64(m)
		aa := fm * (b - fm) * x / ((qam + 2*fm) * (a + 2*fm))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + 2*fm) * (qap + 2*fm))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return h
}

// BetaQuantile returns x with BetaI(x, a, b) = p, for 0 < p < 1.
func BetaQuantile(p, a, b float64) float64 {
	return bisect(0, 1, func(x float64) bool { return BetaI(x, a, b) < p })
}

// bisect finds the boundary in [lo, hi] where below turns false, to double precision.
func bisect(lo, hi float64, below func(float64) bool) float64 {
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if below(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
