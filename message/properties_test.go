package message

import (
	"maps"
	"reflect"
	"strings"
	"testing"
)

// javaString2Properties is Java's MessageDecoder.string2messageProperties, index for index,
// to check Parse against.
func javaString2Properties(properties string) map[string]string {
	m := map[string]string{}
	length, index := len(properties), 0
	for index < length {
		newIndex := strings.IndexByte(properties[index:], 2)
		if newIndex < 0 {
			newIndex = length
		} else {
			newIndex += index
		}
		if newIndex-index >= 3 {
			kvSepIndex := strings.IndexByte(properties[index:], 1)
			if kvSepIndex >= 0 {
				kvSepIndex += index
			}
			if kvSepIndex > index && kvSepIndex < newIndex-1 {
				m[properties[index:kvSepIndex]] = properties[kvSepIndex+1 : newIndex]
			}
		}
		index = newIndex + 1
	}
	return m
}

func asMap(p Properties) map[string]string {
	m := map[string]string{}
	for k, v := range p.All() {
		m[k] = v
	}
	return m
}

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Property
		reenc   string // "" means the input itself
		noReenc bool
	}{
		{"empty string has no properties", "", nil, "", false},
		{"one pair", "TAGS\x01TagA", []Property{{"TAGS", "TagA"}}, "", false},
		{"pairs keep wire order", "KEYS\x01k1 k2\x02UNIQ_KEY\x01AB\x02WAIT\x01true\x02TAGS\x01TagA",
			[]Property{{"KEYS", "k1 k2"}, {"UNIQ_KEY", "AB"}, {"WAIT", "true"}, {"TAGS", "TagA"}}, "", false},
		{"rocketmq-client-go's trailing separator is kept", "TAGS\x01TagB\x02", []Property{{"TAGS", "TagB"}}, "", false},
		{"repeated names are kept, in order", "WAIT\x01true\x02CLUSTER\x01c\x02WAIT\x01true",
			[]Property{{"WAIT", "true"}, {"CLUSTER", "c"}, {"WAIT", "true"}}, "", false},
		{"a value may hold 0x01", "a\x01b\x01c", []Property{{"a", "b\x01c"}}, "", false},
		{"empty name is skipped", "\x01v\x02a\x01b", []Property{{"a", "b"}}, "a\x01b", false},
		{"empty value is skipped", "a\x01\x02b\x01c", []Property{{"b", "c"}}, "b\x01c", false},
		{"pair without separator is skipped", "abc\x02b\x01c", []Property{{"b", "c"}}, "b\x01c", false},
		{"empty pairs are skipped", "\x02\x02a\x01b\x02\x02", []Property{{"a", "b"}}, "a\x01b\x02", false},
		{"lone separator", "\x02", nil, "", true},
		{"only name/value separators", "\x01\x01\x01", nil, "", true},
		{"non-UTF-8 bytes pass through", "k\x01\xff\xfe", []Property{{"k", "\xff\xfe"}}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ParseProperties(tc.in)
			if !reflect.DeepEqual(p.list, tc.want) {
				t.Errorf("parsed %q, want %q", p.list, tc.want)
			}
			if got, want := asMap(p), javaString2Properties(tc.in); !maps.Equal(got, want) {
				t.Errorf("as a map %q, Java's %q", got, want)
			}
			want := tc.reenc
			if want == "" && !tc.noReenc {
				want = tc.in
			}
			if got := p.Encode(); got != want {
				t.Errorf("re-encodes to %q, want %q", got, want)
			}
			if p.EncodedLen() != len(want) || string(p.AppendTo([]byte("x"))) != "x"+want {
				t.Errorf("EncodedLen %d AppendTo %q", p.EncodedLen(), p.AppendTo(nil))
			}
		})
	}
}

func TestPropertiesEdit(t *testing.T) {
	p := ParseProperties("WAIT\x01true\x02CLUSTER\x01c\x02WAIT\x01false\x02TAGS\x01A")
	if p.Get(PropertyWaitStoreMsgOK) != "false" || p.Len() != 4 {
		t.Fatalf("the last of a repeated name must win, as in Java's HashMap: %q", p.Get("WAIT"))
	}
	if _, ok := p.Lookup("absent"); ok || p.Get("absent") != "" {
		t.Error("absent name found")
	}
	p.Set("WAIT", "true")
	if got := p.Encode(); got != "WAIT\x01true\x02CLUSTER\x01c\x02TAGS\x01A" {
		t.Errorf("Set of a repeated name: %q", got)
	}
	p.Set("NEW", "v")
	p.Delete("CLUSTER")
	p.Delete("absent")
	if got := p.Encode(); got != "WAIT\x01true\x02TAGS\x01A\x02NEW\x01v" {
		t.Errorf("after Set and Delete: %q", got)
	}
	c := p.Clone()
	c.Set("TAGS", "B")
	if p.Get("TAGS") != "A" {
		t.Error("Clone shares the list")
	}
	var names []string
	for k := range p.All() {
		names = append(names, k)
		break
	}
	if len(names) != 1 || names[0] != "WAIT" {
		t.Errorf("All stopped early: %q", names)
	}
	p.Reset()
	if p.Len() != 0 || p.Encode() != "" {
		t.Error("Reset left pairs")
	}
	var zero Properties
	zero.Set("a", "b")
	if zero.Encode() != "a\x01b" {
		t.Error("zero Properties unusable")
	}
}

// The send and consume paths read these on every message; most messages have none of
// them, and reading an absent one must not allocate.
func TestAbsentPropertyAccessorsDoNotAllocate(t *testing.T) {
	m := Message{Topic: "T"}
	m.SetTags("TagA")
	if n := testing.AllocsPerRun(100, func() {
		_ = m.DelayLevel()
		_ = m.MaxReconsumeTimes()
		_ = m.WaitStoreMsgOK()
		_ = m.TransactionPrepared()
	}); n != 0 {
		t.Errorf("%v allocations reading absent properties", n)
	}
}

func TestMessageAccessors(t *testing.T) {
	var m Message
	if !m.WaitStoreMsgOK() || m.DelayLevel() != 0 || m.MaxReconsumeTimes() != -1 || m.TransactionPrepared() {
		t.Fatal("defaults of an empty message")
	}
	m.SetTags("TagA")
	m.SetKeys("k1", "k2")
	m.SetDelayLevel(3)
	m.SetWaitStoreMsgOK(false)
	m.SetUniqKey("ID")
	m.Properties.Set(PropertyTransactionPrepared, "TRUE")
	m.Properties.Set(PropertyMaxReconsumeTimes, "16")
	if m.Tags() != "TagA" || m.Keys() != "k1 k2" || !reflect.DeepEqual(m.KeyList(), []string{"k1", "k2"}) ||
		m.DelayLevel() != 3 || m.WaitStoreMsgOK() || m.UniqKey() != "ID" || !m.TransactionPrepared() ||
		m.MaxReconsumeTimes() != 16 {
		t.Errorf("accessors: %q", m.Properties.Encode())
	}
	m.SetTags("")
	m.SetKeys()
	m.SetDelayLevel(0)
	if m.Properties.Encode() != "WAIT\x01false\x02UNIQ_KEY\x01ID\x02TRAN_MSG\x01TRUE\x02MAX_RECONSUME_TIMES\x0116" {
		t.Errorf("clearing: %q", m.Properties.Encode())
	}
	m.Properties.Set(PropertyDelayTimeLevel, "x")
	if m.DelayLevel() != 0 {
		t.Error("non-numeric DELAY")
	}
	m.Body = []byte("b")
	c := m.Clone()
	c.Body[0] = 'c'
	c.SetTags("other")
	if m.Body[0] != 'b' || m.Tags() != "" {
		t.Error("Clone shares memory")
	}
}

func TestSystemProperties(t *testing.T) {
	// MessageConst.STRING_HASH_SET of 4.9.4 holds 31 names.
	all := []string{PropertyKeys, PropertyTags, PropertyWaitStoreMsgOK, PropertyDelayTimeLevel,
		PropertyRetryTopic, PropertyRealTopic, PropertyRealQueueID, PropertyTransactionPrepared,
		PropertyProducerGroup, PropertyMinOffset, PropertyMaxOffset, PropertyBuyerID,
		PropertyOriginMessageID, PropertyTransferFlag, PropertyCorrectionFlag, PropertyMQ2Flag,
		PropertyReconsumeTime, PropertyMsgRegion, PropertyTraceSwitch, PropertyUniqKey,
		PropertyMaxReconsumeTimes, PropertyConsumeStartTimestamp,
		PropertyTransactionPreparedQueueOffset, PropertyTransactionCheckTimes,
		PropertyCheckImmunityTimeInSeconds, PropertyInstanceID, PropertyCorrelationID,
		PropertyMessageReplyToClient, PropertyMessageTTL, PropertyReplyMessageArriveTime,
		PropertyPushReplyTime, PropertyCluster, PropertyMessageType, PropertyInnerMultiDispatch,
		PropertyInnerMultiQueueOffset}
	n := 0
	for _, name := range all {
		if IsSystemProperty(name) {
			n++
		}
	}
	if len(all) != 35 || n != 31 {
		t.Errorf("%d names, %d system ones; want 35 and 31", len(all), n)
	}
	for _, name := range []string{PropertyTransactionPreparedQueueOffset, PropertyTransactionCheckTimes,
		PropertyCheckImmunityTimeInSeconds, PropertyInnerMultiDispatch, "color"} {
		if IsSystemProperty(name) {
			t.Errorf("%s is not in Java's set", name)
		}
	}
}

// TestSplitKeys: keys split at the separator only, as the broker's index splits them; a
// key may hold another space.
func TestSplitKeys(t *testing.T) {
	for _, c := range []struct {
		keys string
		want []string
	}{
		{"", nil},
		{"k1", []string{"k1"}},
		{"k1 k2", []string{"k1", "k2"}},
		{" k1  k2 ", []string{"k1", "k2"}},
		{"order\u00a01 k2", []string{"order\u00a01", "k2"}},
		{"注文\u30001\tx", []string{"注文\u30001\tx"}},
	} {
		if got := SplitKeys(c.keys); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitKeys(%q) = %q, want %q", c.keys, got, c.want)
		}
	}
}
