package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mqgate/mqgate/internal/clock"
	"github.com/mqgate/mqgate/internal/devcluster/store"
	"github.com/mqgate/mqgate/message"
)

// The delay service: Java's ScheduleMessageService (store/schedule) with the delay rewrite
// of CommitLog.asyncPutMessage. A message stored with DELAY level n > 0 goes to queue n-1
// of SCHEDULE_TOPIC_XXXX instead, its real topic and queue kept in REAL_TOPIC and
// REAL_QID; the store gives its consume queue entry the delivery time as tags code (store
// timestamp + the level's delay, from the store's table of levels, which this service
// reads too). When that time comes the message is stored again in its real queue, and
// the level's progress (Java's offsetTable) is kept in delayOffset.json.
//
// Java polls each level every 100 ms; here each level's goroutine sleeps until its next
// message is due, or until a message arrives in an empty level.

func init() { extensions = append(extensions, extension{name: "schedule", install: installSchedule}) }

// delayRetryInterval is DELAY_FOR_A_WHILE: a delivery the store refused is tried again
// after it.
const delayRetryInterval = 100 * time.Millisecond

type scheduleService struct {
	b      *Broker
	delays []time.Duration // level n at n-1: the store's table
	path   string          // delayOffset.json; "" keeps progress in memory
	wake   []chan struct{} // per level: a message arrived

	mu      sync.Mutex
	offsets map[int32]int64 // level -> the next queue offset to deliver
	dirty   bool

	persistMu sync.Mutex // serializes writers of the file
}

func installSchedule(b *Broker) error {
	s := &scheduleService{b: b, delays: b.store.DelayLevels(), offsets: make(map[int32]int64)}
	if len(s.delays) == 0 {
		return nil // no levels: DELAY means nothing, as Java's maxDelayLevel 0 makes it
	}
	s.wake = make([]chan struct{}, len(s.delays))
	for i := range s.wake {
		s.wake[i] = make(chan struct{}, 1)
	}
	if b.cfg.DataDir != "" {
		s.path = filepath.Join(b.cfg.DataDir, "delayOffset.json")
		if err := s.load(); err != nil {
			return err
		}
	}
	b.schedule = s
	b.storeHooks = append(b.storeHooks, s.rewrite)
	b.arrivals = append(b.arrivals, s.arrived)
	b.services = append(b.services, s.run)
	b.onShutdown = append(b.onShutdown, func() {
		if err := s.persist(); err != nil {
			b.log.Error("broker: persisting delay offsets", "err", err)
		}
	})
	return nil
}

// rewrite is CommitLog.asyncPutMessage's delay branch: a message that is not a
// transaction's half or rollback and has DELAY > 0 goes to the schedule topic, the level
// capped at the highest (DELAY rewritten so). A DELAY that is not an int fails the put
// as Java's Integer.parseInt throws.
func (s *scheduleService) rewrite(m *message.Ext, props *javaProps) (bool, error) {
	switch message.TransactionType(m.SysFlag) {
	case message.SysFlagTransactionNotType, message.SysFlagTransactionCommit:
	default:
		return false, nil
	}
	v, ok := props.get(message.PropertyDelayTimeLevel)
	if !ok {
		return false, nil
	}
	level, err := strconv.ParseInt(v, 10, 32)
	if err != nil || !isJavaInt(v) {
		return false, javaException(numberFormatRemark(v))
	}
	if level <= 0 {
		return false, nil
	}
	if maxLevel := int64(len(s.delays)); level > maxLevel {
		level = maxLevel
		props.put(message.PropertyDelayTimeLevel, strconv.FormatInt(level, 10))
	}
	props.put(message.PropertyRealTopic, m.Topic)
	props.put(message.PropertyRealQueueID, strconv.Itoa(int(m.QueueID)))
	m.Topic, m.QueueID = message.SystemTopicSchedule, int32(level-1)
	return true, nil
}

// isJavaInt reports whether Integer.parseInt accepts v: an optional sign and ASCII digits
// (Go's ParseInt accepts the same, and also "_" separators it does not).
func isJavaInt(v string) bool {
	if v != "" && (v[0] == '-' || v[0] == '+') {
		v = v[1:]
	}
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// arrived wakes the level whose queue a message entered.
func (s *scheduleService) arrived(topic string, queueID int32) {
	if topic != message.SystemTopicSchedule || queueID < 0 || int(queueID) >= len(s.wake) {
		return
	}
	select {
	case s.wake[queueID] <- struct{}{}:
	default:
	}
}

// run delivers every level until ctx ends (DeliverDelayedMessageTimerTask per level).
func (s *scheduleService) run(ctx context.Context) {
	var wg sync.WaitGroup
	for level := 1; level <= len(s.delays); level++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runLevel(ctx, int32(level))
		}()
	}
	wg.Wait()
}

func (s *scheduleService) runLevel(ctx context.Context, level int32) {
	for {
		wait := s.deliverDue(ctx, level)
		var timer clock.Timer
		var due <-chan time.Time
		if wait >= 0 {
			timer = s.b.cfg.Timers.NewTimer(wait)
			due = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-s.wake[level-1]:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// deliverDue is executeOnTimeup: it delivers the level's messages that are due, in queue
// order, and returns how long until the next one is, or -1 when the level is drained.
func (s *scheduleService) deliverDue(ctx context.Context, level int32) time.Duration {
	queueID := level - 1
	delay := s.delays[queueID].Milliseconds()
	off := s.offset(level)
	delivered := false
	defer func() {
		if delivered {
			if err := s.persist(); err != nil {
				s.b.log.Error("broker: persisting delay offsets", "err", err)
			}
		}
	}()
	for ctx.Err() == nil {
		e, ok := s.b.store.Entry(message.SystemTopicSchedule, queueID, off)
		if !ok {
			// Below the min offset (retention dropped it) or beyond the max, Java resets
			// to the bound; at the max, the level is drained.
			minOff := s.b.store.MinOffset(message.SystemTopicSchedule, queueID)
			maxOff := s.b.store.MaxOffset(message.SystemTopicSchedule, queueID)
			switch {
			case off < minOff:
				off = minOff
			case off > maxOff:
				off = maxOff
			default:
				return -1
			}
			s.b.log.Warn("broker: schedule queue offset invalid, reset", "level", level, "offset", off)
			s.setOffset(level, off)
			continue
		}
		now := s.b.now().UnixMilli()
		at := e.TagsCode
		if at > now+delay { // correctDeliverTimestamp: a time beyond one delay from now is now
			at = now
		}
		if at > now {
			return time.Duration(at-now) * time.Millisecond
		}
		if err := s.deliver(e.CommitLogOffset); err != nil {
			s.b.log.Warn("broker: delivering a delayed message", "level", level, "offset", off, "err", err)
			return delayRetryInterval
		}
		off++
		s.setOffset(level, off)
		delivered = true
	}
	return -1
}

// deliver is messageTimeup and syncDeliver: the message at a commit log offset is stored
// again in its real topic and queue. Its properties are kept as stored, DELAY, REAL_TOPIC
// and REAL_QID included: Java clears DELAY from the map only after it has serialized the
// properties (recording 385 shows them on a delivered message). A message that cannot be
// read or names no real queue is skipped, as is one whose real topic is the half topic.
func (s *scheduleService) deliver(commitLogOffset int64) error {
	ext, err := s.b.store.Lookup(commitLogOffset)
	if err != nil {
		s.b.log.Warn("broker: a delayed message is gone, skipped", "offset", commitLogOffset, "err", err)
		return nil
	}
	var props javaProps
	props.parse(ext.Properties.Encode())
	topic, _ := props.get(message.PropertyRealTopic)
	qid, _ := props.get(message.PropertyRealQueueID)
	queueID, perr := strconv.ParseInt(qid, 10, 32)
	switch {
	case topic == "" || perr != nil || queueID < 0:
		s.b.log.Error("broker: a delayed message names no real queue, skipped", "offset", commitLogOffset,
			"topic", topic, "queue", qid)
		return nil
	case topic == message.SystemTopicTransactionHalf:
		s.b.log.Error("broker: [BUG] the real topic of a delayed message is the half topic, discarded", "offset", commitLogOffset)
		return nil
	}
	m := &message.Ext{Message: message.Message{Topic: topic, Body: ext.Body, Flag: ext.Flag},
		QueueID: int32(queueID), SysFlag: ext.SysFlag, BornTimestamp: ext.BornTimestamp, BornHost: ext.BornHost,
		StoreHost: ext.StoreHost, ReconsumeTimes: ext.ReconsumeTimes}
	props.writeTo(&m.Properties)
	if _, err := s.b.putMessage(m); err != nil && !errors.Is(err, store.ErrFlushFailed) {
		return err // retried; a message stored but not yet durable is not stored twice
	}
	return nil
}

func (s *scheduleService) offset(level int32) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offsets[level]
}

// setOffset is updateOffset.
func (s *scheduleService) setOffset(level int32, off int64) {
	s.mu.Lock()
	s.offsets[level] = off
	s.dirty = true
	s.mu.Unlock()
}

// load reads delayOffset.json and corrects each level's offset into its queue's range
// (correctDelayOffset).
func (s *scheduleService) load() error {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	var f struct {
		OffsetTable map[string]int64 `json:"offsetTable"`
	}
	if err := json.Unmarshal(quoteBareKeys(data), &f); err != nil {
		return fmt.Errorf("broker: %s: %w", s.path, err)
	}
	for key, off := range f.OffsetTable {
		level, err := strconv.ParseInt(key, 10, 32)
		if err != nil {
			return fmt.Errorf("broker: %s: level %q is not an integer", s.path, key)
		}
		queueID := int32(level) - 1
		minOff := s.b.store.MinOffset(message.SystemTopicSchedule, queueID)
		maxOff := s.b.store.MaxOffset(message.SystemTopicSchedule, queueID)
		if fixed := min(max(off, minOff), maxOff); fixed != off {
			s.b.log.Error("broker: correct delay offset", "level", level, "from", off, "to", fixed)
			off = fixed
		}
		s.offsets[int32(level)] = off
	}
	return nil
}

// persist writes delayOffset.json as fastjson writes DelayOffsetSerializeWrapper:
// {"offsetTable":{1:12,3:4}}, levels as bare integer keys.
func (s *scheduleService) persist() error {
	if s.path == "" {
		return nil
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	levels := make([]int32, 0, len(s.offsets))
	for level := range s.offsets {
		levels = append(levels, level)
	}
	slices.Sort(levels)
	var b bytes.Buffer
	b.WriteString(`{"offsetTable":{`)
	for i, level := range levels {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", level, s.offsets[level])
	}
	b.WriteString("}}")
	s.dirty = false
	s.mu.Unlock()
	if err := store.WriteFileAtomic(s.path, b.Bytes()); err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return err
	}
	return nil
}
