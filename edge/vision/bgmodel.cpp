#include <opencv2/video.hpp>
#include "bgmodel.h"

struct cw_bg {
	cv::Ptr<cv::BackgroundSubtractorMOG2> p;
};

CWBgModel cw_bg_new(int history, double var_threshold) {
	cw_bg* m = new cw_bg;
	m->p = cv::createBackgroundSubtractorMOG2(history, var_threshold, false);
	return m;
}

int cw_bg_apply(CWBgModel m, void* src, void* dst, double rate) {
	try {
		static_cast<cw_bg*>(m)->p->apply(*static_cast<cv::Mat*>(src), *static_cast<cv::Mat*>(dst), rate);
	} catch (...) {
		return 1; // an exception crossing into Go would abort the process
	}
	return 0;
}

void cw_bg_close(CWBgModel m) { delete static_cast<cw_bg*>(m); }
