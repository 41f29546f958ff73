package message

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Defaults of the Java 4.9.4 client.
const (
	// DefaultCompressThreshold is compressMsgBodyOverHowmuch: a single message's body of at
	// least this many bytes is compressed.
	DefaultCompressThreshold = 4 << 10
	// DefaultCompressLevel is rocketmq.message.compressLevel's default zlib level.
	DefaultCompressLevel = 5
	// DefaultMaxBodySize is maxMessageSize (4 MiB). The Java producer checks it before
	// compressing, so it also bounds what a compressed body inflates to.
	DefaultMaxBodySize = 4 << 20
)

// MaybeCompress applies the Java producer's rule for a single message: a body of at least
// threshold bytes (DefaultCompressThreshold when threshold <= 0) is compressed with zlib at
// level and returned with the sysFlag bits SysFlagCompressed|SysFlagCompressionZlib to set
// on the send (0x301, as in the recordings); a smaller body is returned as is with 0. Like
// Java, it compresses even when that does not make the body smaller. Batches are never
// compressed.
func MaybeCompress(body []byte, threshold, level int) ([]byte, int32, error) {
	if threshold <= 0 {
		threshold = DefaultCompressThreshold
	}
	if len(body) < threshold {
		return body, 0, nil
	}
	out, err := CompressBody(nil, body, level)
	if err != nil {
		return body, 0, err
	}
	return out, SysFlagCompressed | SysFlagCompressionZlib, nil
}

// CompressBody appends body compressed as a zlib stream at level (flate.HuffmanOnly to
// flate.BestCompression) to dst. Compressors are pooled, so concurrent producers do not
// allocate one each time. Go's deflate output differs from Java's (zlib's) for the same
// level; any inflater reads both.
func CompressBody(dst, body []byte, level int) ([]byte, error) {
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		return dst, fmt.Errorf("message: zlib level %d out of range [%d, %d]", level, flate.HuffmanOnly, flate.BestCompression)
	}
	pool := &zlibWriters[level-flate.HuffmanOnly]
	zw, _ := pool.Get().(*zlibWriter)
	if zw == nil {
		zw = new(zlibWriter)
		w, err := zlib.NewWriterLevel(&zw.out, level)
		if err != nil {
			return dst, err
		}
		zw.w = w
	} else {
		zw.w.Reset(&zw.out)
	}
	zw.out.b = dst
	_, err := zw.w.Write(body)
	if err == nil {
		err = zw.w.Close()
	}
	out := zw.out.b
	zw.out.b = nil
	pool.Put(zw)
	if err != nil {
		return dst, err
	}
	return out, nil
}

var zlibWriters [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

type zlibWriter struct {
	w   *zlib.Writer
	out sliceWriter
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// errInflateLimit is returned by inflater.inflate when the output would exceed the limit.
var errInflateLimit = errors.New("inflate limit")

// inflater inflates zlib bodies with a reused reader and scratch buffer; it is owned by one
// Decoder and not safe for concurrent use.
type inflater struct {
	src     bytes.Reader
	zr      io.ReadCloser
	scratch []byte
}

// inflate returns src inflated into fresh memory of exactly its length. It reads at most
// limit+1 bytes of output, so a small stream that claims gigabytes costs no more than limit
// bytes of scratch; the scratch buffer is kept for the next call.
func (f *inflater) inflate(src []byte, limit int) ([]byte, error) {
	f.src.Reset(src)
	if f.zr == nil {
		zr, err := zlib.NewReader(&f.src)
		if err != nil {
			return nil, err
		}
		f.zr = zr
	} else if err := f.zr.(zlib.Resetter).Reset(&f.src, nil); err != nil {
		return nil, err
	}
	buf := f.scratch[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				f.scratch = buf[:0]
				return nil, errInflateLimit
			}
			// Grow geometrically, never past limit+1: one byte over is enough to know.
			buf = slices.Grow(buf, min(max(2*cap(buf), 4*len(src), 512), limit+1)-len(buf))
		}
		n, err := f.zr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			f.scratch = buf[:0]
			return nil, errInflateLimit
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			f.scratch = buf[:0]
			return nil, err
		}
	}
	f.scratch = buf[:0]
	out := make([]byte, len(buf))
	copy(out, buf)
	return out, nil
}
