package broker

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/mqgate/mqgate/remoting"
)

// Request headers of admin requests the remoting package has no type for, read with a
// fieldReader. Each is named after its Java class.

// faqURL is FAQUrl.suggestTodo of the FAQ page every 4.9.4 remark links to.
const faqURL = "\nSee http://rocketmq.apache.org/docs/faq/ for further details."

// headerErrorResponse answers a request whose header this broker cannot read, with
// SYSTEM_ERROR as Java's NettyRemotingAbstract answers the exception. Java reads the
// fast headers (send V2, pull) as they come and parses their numbers with parseInt, so a
// malformed number gets Java's very remark; other headers it reads leniently
// (decodeCommandCustomHeader leaves a missing or malformed field null) and fails later,
// mostly with a NullPointerException: the same code, a remark naming the field instead.
func headerErrorResponse(req *remoting.Command, err error) *remoting.Command {
	return response(req, remoting.SystemError, headerErrorRemark(req, err))
}

func headerErrorRemark(req *remoting.Command, err error) string {
	var he *remoting.HeaderError
	if !errors.As(err, &he) {
		return err.Error()
	}
	if he.Reason == "missing" {
		return "org.apache.rocketmq.remoting.exception.RemotingCommandException: the custom field <" + he.Field + "> is null"
	}
	return numberFormatRemark(req.Ext.Get(he.Field))
}

// Remarks of exceptions NettyRemotingAbstract turns into SYSTEM_ERROR
// (RemotingHelper.exceptionSimpleDesc: the exception, then its first stack frame), as the
// reference broker gives them: Java 4.9.4 on JDK 17, whose frames these are.

// numberFormatRemark is Integer.parseInt's exception for input.
func numberFormatRemark(input string) string {
	return `java.lang.NumberFormatException: For input string: "` + input +
		`", java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)`
}

// nullNumberRemark is Integer.parseInt's exception for null.
const nullNumberRemark = "java.lang.NumberFormatException: Cannot parse null string, " +
	"java.base/java.lang.Integer.parseInt(Integer.java:630)"

// nullBodyRemark is RemotingSerializable.decode's exception for a request without a body:
// Java's body is null then.
const nullBodyRemark = `java.lang.NullPointerException: Cannot read the array length because "bytes" is null, ` +
	"java.base/java.lang.String.<init>(String.java:1387)"

// jsonNull reports whether a body is JSON's null, which fastjson decodes to a null object.
func jsonNull(body []byte) bool { return string(bytes.TrimSpace(body)) == "null" }

// nullObjectRemark is the exception of a handler using the null object a body decoded to.
func nullObjectRemark(call, variable, frame string) string {
	return `java.lang.NullPointerException: Cannot invoke "` + call + `" because "` + variable + `" is null, ` + frame
}

// batchNullBodyRemark is DefaultMessageStore.checkMessages reading the length of a batch
// without a body.
const batchNullBodyRemark = `java.lang.NullPointerException: Cannot read the array length because the return value of "org.apache.rocketmq.common.message.MessageExtBatch.getBody()" is null, ` +
	"org.apache.rocketmq.store.DefaultMessageStore.checkMessages(DefaultMessageStore.java:391)"

// batchPropertiesRemark is CommitLog's batch encoder refusing the batch's properties.
const batchPropertiesRemark = "java.lang.RuntimeException: Properties size of messageExtBatch exceeded!, " +
	"org.apache.rocketmq.store.CommitLog$MessageExtEncoder.encode(CommitLog.java:1587)"

// illegalCapacityRemark is new ArrayList(n)'s exception for a negative n.
func illegalCapacityRemark(n int32) string {
	return "java.lang.IllegalArgumentException: Illegal Capacity: " + strconv.Itoa(int(n)) +
		", java.base/java.util.ArrayList.<init>(ArrayList.java:160)"
}

// bufferUnderflowRemark is a ByteBuffer read past the end: a malformed batch body.
const bufferUnderflowRemark = "java.nio.BufferUnderflowException, java.base/java.nio.Buffer.nextGetIndex(Buffer.java:707)"

// fieldReader reads the fields of a header without a type of its own, keeping the first
// error as a *remoting.HeaderError.
type fieldReader struct {
	header string
	ext    remoting.ExtFields
	err    error
}

func (r *fieldReader) fail(key, reason string) {
	if r.err == nil {
		r.err = &remoting.HeaderError{Header: r.header, Field: key, Reason: reason}
	}
}

// str returns a string field; a required one must be present.
func (r *fieldReader) str(key string, required bool) string {
	v, ok := r.ext.Lookup(key)
	if !ok && required {
		r.fail(key, "missing")
	}
	return v
}

func (r *fieldReader) int64(key string, required bool) int64 {
	v, ok := r.ext.Lookup(key)
	if !ok {
		if required {
			r.fail(key, "missing")
		}
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.fail(key, strconv.Quote(v)+" is not a 64-bit integer")
	}
	return n
}

func (r *fieldReader) int32(key string, required bool) int32 {
	v, ok := r.ext.Lookup(key)
	if !ok {
		if required {
			r.fail(key, "missing")
		}
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		r.fail(key, strconv.Quote(v)+" is not a 32-bit integer")
	}
	return int32(n)
}

// timestampResponse is GetEarliestMsgStoretimeResponseHeader.
type timestampResponse struct{ timestamp int64 }

func (h *timestampResponse) EncodeFields(w *remoting.FieldWriter) { w.Int("timestamp", h.timestamp) }

// sendErrorHeader is what a failed send answers besides its code: SendMessageProcessor's
// preSend adds MSG_REGION and TRACE_ON to the response before anything can fail, and the
// SendMessageResponseHeader's fields stay null.
type sendErrorHeader struct{}

func (sendErrorHeader) EncodeFields(w *remoting.FieldWriter) {
	w.String("TRACE_ON", traceOn)
	w.String("MSG_REGION", regionID)
}
