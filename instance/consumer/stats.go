package consumer

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqgate/mqgate/remoting"
)

// Statistics per subscribed topic, as Java's ConsumerStatsManager reports them in running
// info: pull and consume rates over the last minute, average pull and consume times, and
// failures over the last hour. Counting is a few atomic additions per pull and per
// delivery; the service goroutine samples the counters every statsInterval, and a report
// compares the counters with the oldest sample of the window.

const (
	statsInterval = 10 * time.Second
	minuteSamples = 6  // one minute of samples
	hourSamples   = 60 // one hour, one sample a minute
)

type topicStats struct {
	pullMsgs, pulls, pullRTms atomic.Int64
	consumeOK, consumeFailed  atomic.Int64
	consumes, consumeRTus     atomic.Int64

	mu      sync.Mutex
	minute  []statsSample // the last minuteSamples+1 samples, oldest first
	hour    []statsSample // one a minute, the last hourSamples+1
	samples int
}

type statsSample struct {
	at                        time.Time
	pullMsgs, pulls, pullRTms int64
	consumeOK, consumeFailed  int64
	consumes, consumeRTus     int64
}

func (s *topicStats) pulled(msgs int, rt time.Duration) {
	s.pulls.Add(1)
	s.pullMsgs.Add(int64(msgs))
	s.pullRTms.Add(rt.Milliseconds())
}

func (s *topicStats) consumed(ok, failed int, rt time.Duration) {
	if ok > 0 {
		s.consumeOK.Add(int64(ok))
	}
	if failed > 0 {
		s.consumeFailed.Add(int64(failed))
	}
	s.consumes.Add(1)
	s.consumeRTus.Add(rt.Microseconds())
}

func (s *topicStats) snapshot(now time.Time) statsSample {
	return statsSample{at: now, pullMsgs: s.pullMsgs.Load(), pulls: s.pulls.Load(), pullRTms: s.pullRTms.Load(),
		consumeOK: s.consumeOK.Load(), consumeFailed: s.consumeFailed.Load(),
		consumes: s.consumes.Load(), consumeRTus: s.consumeRTus.Load()}
}

// sample records the counters; called every statsInterval.
func (s *topicStats) sample(now time.Time) {
	cur := s.snapshot(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minute = append(s.minute, cur)
	if len(s.minute) > minuteSamples+1 {
		s.minute = append(s.minute[:0], s.minute[1:]...)
	}
	if s.samples%minuteSamples == 0 {
		s.hour = append(s.hour, cur)
		if len(s.hour) > hourSamples+1 {
			s.hour = append(s.hour[:0], s.hour[1:]...)
		}
	}
	s.samples++
}

// status reports the topic's ConsumeStatus at now.
func (s *topicStats) status(now time.Time) remoting.ConsumeStatus {
	cur := s.snapshot(now)
	s.mu.Lock()
	from, hourFrom := cur, cur
	if len(s.minute) > 0 {
		from = s.minute[0]
	}
	if len(s.hour) > 0 {
		hourFrom = s.hour[0]
	}
	s.mu.Unlock()
	var st remoting.ConsumeStatus
	secs := now.Sub(from.at).Seconds()
	if secs > 0 {
		st.PullTPS = float64(cur.pullMsgs-from.pullMsgs) / secs
		st.ConsumeOKTPS = float64(cur.consumeOK-from.consumeOK) / secs
		st.ConsumeFailedTPS = float64(cur.consumeFailed-from.consumeFailed) / secs
	}
	if n := cur.pulls - from.pulls; n > 0 {
		st.PullRT = float64(cur.pullRTms-from.pullRTms) / float64(n)
	}
	if n := cur.consumes - from.consumes; n > 0 {
		st.ConsumeRT = float64(cur.consumeRTus-from.consumeRTus) / float64(n) / 1000
	}
	st.ConsumeFailedMsgs = cur.consumeFailed - hourFrom.consumeFailed
	return st
}
