package vision

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "bgmodel.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"gocv.io/x/gocv"
)

// bgModel is MOG2 with the learning rate set by us: fast for the first frames, so the model
// learns the empty scene quickly, then 1/history, so a stopped car or a person waiting at the
// platform edge stays foreground for about a tenth of the history.
type bgModel struct {
	p       C.CWBgModel
	history int
	warm    int // frames of fast learning
	n       int // frames applied
}

func newBgModel(history int, varThreshold float64, warm int) *bgModel {
	return &bgModel{p: C.cw_bg_new(C.int(history), C.double(varThreshold)), history: history, warm: warm}
}

var errBgApply = errors.New("background model: OpenCV rejected the frame")

// apply updates the model with src and writes the foreground mask to dst.
func (b *bgModel) apply(src gocv.Mat, dst *gocv.Mat) error {
	b.n++
	rate := 1 / float64(b.history)
	if b.n <= b.warm {
		rate = max(rate, 1/float64(2*b.n)) // OpenCV's own start-up schedule, for warm frames only
	}
	if C.cw_bg_apply(b.p, unsafe.Pointer(src.Ptr()), unsafe.Pointer(dst.Ptr()), C.double(rate)) != 0 {
		return errBgApply
	}
	return nil
}

func (b *bgModel) close() {
	if b.p != nil {
		C.cw_bg_close(b.p)
		b.p = nil
	}
}
