package track

import "testing"

// One predict and one correct of the constant-velocity filter, worked out by hand (every value
// is exact in float32). From p=1, v=3, P=[[2 1][1 1]], predict over dt=2 with q=1:
//
//	p = 1 + 3·2 = 7
//	a = 2 + 2·2·1 + 4·1 + 1·4·4/4 = 14,  b = 1 + 2·1 + 1·4·2/2 = 7,  c = 1 + 1·4 = 5
//
// then correct with z=10, r=2: s = 16, gains 14/16 and 7/16, innovation 3:
//
//	p = 7 + 0.875·3 = 9.625,  v = 3 + 0.4375·3 = 4.3125
//	a = 0.125·14 = 1.75,  b = 0.125·7 = 0.875,  c = 5 − 0.4375·7 = 1.9375
func TestKalmanAxisByHand(t *testing.T) {
	k := axis{p: 1, v: 3, a: 2, b: 1, c: 1}
	k.predict(2, 1)
	if want := (axis{p: 7, v: 3, a: 14, b: 7, c: 5}); k != want {
		t.Fatalf("predict: %+v, want %+v", k, want)
	}
	k.correct(10, 2)
	if want := (axis{p: 9.625, v: 4.3125, a: 1.75, b: 0.875, c: 1.9375}); k != want {
		t.Fatalf("correct: %+v, want %+v", k, want)
	}
}
