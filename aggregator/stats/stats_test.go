package stats

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsInf(want, 1) && math.IsInf(got, 1) {
		return
	}
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6f, want %.6f (±%g)", what, got, want, tol)
	}
}

// The Wilson intervals of Newcombe (1998), "Two-sided confidence intervals for the single
// proportion", Statistics in Medicine 17, table I, method 3, to its four decimals.
func TestWilsonNewcombe(t *testing.T) {
	for _, c := range []struct {
		k, n      int
		low, high float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
		{20, 20, 0.8389, 1},
	} {
		lo, hi := Wilson(c.k, c.n)
		near(t, "Wilson low", lo, c.low, 0.00005)
		near(t, "Wilson high", hi, c.high, 0.00005)
	}
	// By hand, 1 of 4: p = 0.25, z² = 3.841459; centre (0.25 + z²/8) / (1 + z²/4) =
	// 0.730182/1.960365 = 0.372473; half-width z·√(0.046875 + z²/64)/1.960365 =
	// 1.959964·0.326953/1.960365 = 0.326886.
	lo, hi := Wilson(1, 4)
	near(t, "Wilson(1,4) low", lo, 0.045587, 0.000002)
	near(t, "Wilson(1,4) high", hi, 0.699359, 0.000002)
	if lo, hi := Wilson(1, 0); lo != 0 || hi != 1 {
		t.Errorf("Wilson(1, 0) = %v, %v: no exposure must say nothing is known", lo, hi)
	}
}

// Exact Poisson (Garwood 1936) limits as tabulated, e.g. in Ulm (1990), Am. J. Epidemiol. 131,
// or Sahai & Khurshid (1993): k = 0: 0–3.689; 1: 0.0253–5.572; 5: 1.623–11.668; 10:
// 4.795–18.390.
func TestPoissonGarwood(t *testing.T) {
	for _, c := range []struct {
		k         int
		low, high float64
	}{
		{0, 0, 3.6889}, {1, 0.0253, 5.5716}, {5, 1.6235, 11.6683}, {10, 4.7954, 18.3904},
	} {
		lo, hi := Poisson(c.k)
		near(t, "Poisson low", lo, c.low, 0.00005)
		near(t, "Poisson high", hi, c.high, 0.00005)
	}
	// k = 0 has a closed form: the upper limit is −ln 0.025.
	_, hi := Poisson(0)
	near(t, "Poisson(0) high", hi, -math.Log(0.025), 1e-9)
}

// The Fay–Feuer interval with every weight w is w times the exact Poisson interval, and with
// mixed weights it brackets the weighted sum.
func TestWeighted(t *testing.T) {
	for _, k := range []int{0, 1, 5, 10} {
		lo, hi := Poisson(k)
		y := 25 * float64(k)
		wlo, whi := Weighted(y, 25*y, 25)
		near(t, "25·Poisson low", wlo, 25*lo, 1e-6)
		near(t, "25·Poisson high", whi, 25*hi, 1e-6)
	}
	// 4 red-light runs at 25 points and 6 jaywalkers at 5: y = 130, v = 4·625 + 6·25 = 2650.
	lo, hi := Weighted(130, 2650, 25)
	if !(lo < 130 && 130 < hi) || lo <= 0 {
		t.Errorf("Weighted(130, 2650, 25) = %v, %v: must bracket 130", lo, hi)
	}
	// The width lies between those of all-5 and all-25 weights for the same sum.
	lo5, hi5 := Weighted(130, 5*130, 25)
	lo25, hi25 := Weighted(130, 25*130, 25)
	if !(lo25 < lo && lo < lo5 && hi5 < hi && hi < hi25) {
		t.Errorf("mixed weights %v–%v not between %v–%v and %v–%v", lo, hi, lo5, hi5, lo25, hi25)
	}
}

// R's poisson.test help page, "Comparison of Poisson rates" (cancer in Fredericia against three
// other Danish cities, Andersen 1974): poisson.test(c(11, 6+8+7), c(800, 1083+1050+878)) gives
// rate ratio 1.971488, 95 % interval 0.8584264–4.2772659, p-value 0.07967.
func TestRateRatioTextbook(t *testing.T) {
	r := RateRatio(11, 800, 21, 3011)
	near(t, "ratio", r.Ratio, 1.971488, 5e-7)
	near(t, "low", r.Low, 0.8584264, 5e-7)
	near(t, "high", r.High, 4.2772659, 5e-7)
	near(t, "p", r.P, 0.07967, 5e-6)
}

// Cases computed by hand from the binomial distribution.
func TestRateRatioByHand(t *testing.T) {
	// 10 against 2 with equal exposure: given 12, k1 ~ Bin(12, ½). P(k1 ≥ 10) = (66+12+1)/4096;
	// two-sided (symmetric): 158/4096 = 0.038574.
	r := RateRatio(10, 1000, 2, 1000)
	near(t, "10 v 2 ratio", r.Ratio, 5, 1e-12)
	near(t, "10 v 2 p", r.P, 158.0/4096, 1e-9)
	// 3 against 0 with equal exposure: P(3) = P(0) = 1/8, P(1) = P(2) = 3/8, so p = 1/4. The
	// Clopper–Pearson low end of p is 0.025^(1/3) = 0.292402, a ratio of 0.292402/0.707598.
	r = RateRatio(3, 500, 0, 500)
	near(t, "3 v 0 p", r.P, 0.25, 1e-9)
	pl := math.Pow(0.025, 1.0/3)
	near(t, "3 v 0 low", r.Low, pl/(1-pl), 1e-7)
	if !math.IsInf(r.High, 1) || !math.IsInf(r.Ratio, 1) {
		t.Errorf("3 v 0: ratio %v high %v, want +Inf", r.Ratio, r.High)
	}
	// Exposure matters: 4 against 4 when the after period had a quarter of the road users is a
	// ratio of 4, k1 ~ Bin(8, 1/5) under equal rates: P(k1 ≥ 4) = 0.056282 and the outcomes no
	// likelier than 4 on the low side are none (P(0) = 0.167772 > P(4) = 0.045875).
	r = RateRatio(4, 250, 4, 1000)
	near(t, "4/250 v 4/1000 ratio", r.Ratio, 4, 1e-12)
	near(t, "4/250 v 4/1000 p", r.P, 0.056282, 5e-7)
	// Nothing in either period: no ratio, no evidence.
	r = RateRatio(0, 100, 0, 100)
	if !math.IsNaN(r.Ratio) || r.P != 1 {
		t.Errorf("0 v 0: %+v", r)
	}
}

func TestBetaGammaInverses(t *testing.T) {
	for _, c := range []struct{ a, b, x float64 }{{2, 3, 0.3}, {0.5, 0.5, 0.9}, {50, 70, 0.41}} {
		near(t, "BetaQuantile(BetaI)", BetaQuantile(BetaI(c.x, c.a, c.b), c.a, c.b), c.x, 1e-9)
	}
	// P(1, x) = 1 − e^−x.
	near(t, "GammaP(1, 2)", GammaP(1, 2), 1-math.Exp(-2), 1e-12)
	near(t, "GammaP(3, 10)", GammaP(3, 10), 1-math.Exp(-10)*(1+10+50), 1e-12)
	// I_x(1, 1) = x; I_x(a, 1) = x^a.
	near(t, "BetaI(.3,1,1)", BetaI(0.3, 1, 1), 0.3, 1e-12)
	near(t, "BetaI(.3,4,1)", BetaI(0.3, 4, 1), math.Pow(0.3, 4), 1e-12)
}

// GammaQuantile inverts GammaP over the shapes a ranking meets (a Poisson count of 1 to
// 200,000 events; a < 1 for weighted sums of few events) and both tails, in a few evaluations
// (400 quantiles per ranking of 200 sites), and agrees with plain bisection.
func TestGammaQuantile(t *testing.T) {
	for _, a := range []float64{0.3, 1, 2.5, 10, 137, 4000, 45000, 200000} {
		for _, p := range []float64{1e-6, 0.025, 0.5, 0.975, 1 - 1e-6} {
			x, evals := gammaQuantile(p, a)
			if got := GammaP(a, x); math.Abs(got-p) > 1e-9*math.Max(p, 1-p) || x <= 0 {
				t.Errorf("GammaQuantile(%g, %g) = %g: GammaP there %.15g", p, a, x, got)
			}
			hi := math.Max(1, 2*a)
			for GammaP(a, hi) < p {
				hi *= 2
			}
			if b := bisect(0, hi, func(x float64) bool { return GammaP(a, x) < p }); math.Abs(x-b) > 1e-10*b {
				t.Errorf("GammaQuantile(%g, %g) = %.15g, bisection %.15g", p, a, x, b)
			}
			// The shapes of a city's 30 days (hundreds of events and up) start close to the root.
			if max := 8; a >= 100 && evals > max {
				t.Errorf("GammaQuantile(%g, %g): %d evaluations of GammaP, want at most %d", p, a, evals, max)
			}
			if evals < 2 { // the bracket's end, then x
				t.Errorf("GammaQuantile(%g, %g): %d evaluations of GammaP counted", p, a, evals)
			}
			if max := 16; a >= 1 && evals > max {
				t.Errorf("GammaQuantile(%g, %g): %d evaluations of GammaP, want at most %d", p, a, evals, max)
			}
			if evals > 80 {
				t.Errorf("GammaQuantile(%g, %g): %d evaluations of GammaP", p, a, evals)
			}
		}
	}
	// P(1, x) = 1 − e^−x: the quantile is −ln(1 − p).
	near(t, "GammaQuantile(.975, 1)", GammaQuantile(0.975, 1), -math.Log(0.025), 1e-12)
}
