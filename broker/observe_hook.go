package broker

import (
	"github.com/connbroker/connbroker/broker/observe"
	"github.com/connbroker/connbroker/broker/validate"
)

// SetRecorder makes the service report credentials issued and validations
// to r. Call it before serving; nil restores the no-op recorder.
func (s *Service) SetRecorder(r observe.Recorder) {
	if r == nil {
		r = observe.Nop{}
	}
	s.rec = r
}

// failedStage names the first failed stage of res, or "" when res is OK.
func failedStage(res validate.Result) string {
	if res.OK {
		return ""
	}
	for _, st := range res.Stages {
		if !st.OK {
			return st.Name
		}
	}
	return "unknown"
}
