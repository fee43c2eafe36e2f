// A Gaussian-mixture background model whose learning rate the caller sets per frame. gocv
// v0.31 applies MOG2 with OpenCV's default rate, which starts at 1/(2·frames): a car that
// stops in a clip's first minute fades into the background within seconds.
#ifndef CROSSWATCH_BGMODEL_H
#define CROSSWATCH_BGMODEL_H
#ifdef __cplusplus
extern "C" {
#endif

typedef void* CWBgModel;

CWBgModel cw_bg_new(int history, double var_threshold);
// cw_bg_apply returns 0, or 1 when OpenCV threw (the mask is then left unchanged).
int cw_bg_apply(CWBgModel m, void* src, void* dst, double rate);
void cw_bg_close(CWBgModel m);

#ifdef __cplusplus
}
#endif
#endif
