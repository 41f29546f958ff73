package remoting

import (
	"encoding/binary"
	"fmt"
	"math"
)

// appendBinaryHeader writes c's header in the ROCKETMQ serialization:
// int16 code, int8 language, int16 version, int32 opaque, int32 flag, int32 remark length
// and remark, int32 extFields length and (int16 key length, key, int32 value length, value)*.
func appendBinaryHeader(dst []byte, c *Command) ([]byte, error) {
	if c.Code < math.MinInt16 || c.Code > math.MaxInt16 {
		return dst, fmt.Errorf("remoting: code %d does not fit the ROCKETMQ header's int16", c.Code)
	}
	if c.Version < math.MinInt16 || c.Version > math.MaxInt16 {
		return dst, fmt.Errorf("remoting: version %d does not fit the ROCKETMQ header's int16", c.Version)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Code)))
	dst = append(dst, byte(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(c.Version)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if c.Header != nil || len(c.Ext) > 0 {
		w := collect(c, RocketMQ)
		for i := range w.entries {
			e := &w.entries[i]
			if len(e.key) > math.MaxInt16 {
				release(w)
				return dst, fmt.Errorf("remoting: extFields key of %d bytes does not fit an int16 length", len(e.key))
			}
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(e.key)))
			dst = append(dst, e.key...)
			if e.isNum {
				num := w.numText(e)
				dst = binary.BigEndian.AppendUint32(dst, uint32(len(num)))
				dst = append(dst, num...)
			} else {
				dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.val)))
				dst = append(dst, e.val...)
			}
		}
		release(w)
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst, nil
}

// decodeBinaryHeader reads a ROCKETMQ header from src; strings are substrings of src.
func decodeBinaryHeader(src string, c *Command) error {
	r := binaryReader{src: src}
	code, ok1 := r.u16()
	lang, ok2 := r.u8()
	version, ok3 := r.u16()
	opaque, ok4 := r.u32()
	flag, ok5 := r.u32()
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return &FrameError{Offset: r.pos, Reason: fmt.Sprintf("ROCKETMQ header of %d bytes is shorter than its fixed part", len(src))}
	}
	c.Code = int32(int16(code))
	c.Language = LanguageCode(lang)
	c.Version = int32(int16(version))
	c.Opaque = int32(opaque)
	c.Flag = int32(flag)
	remark, err := r.str32("remark")
	if err != nil {
		return err
	}
	c.Remark = remark
	extLen, ok := r.u32()
	if !ok {
		return &FrameError{Offset: r.pos, Reason: "ROCKETMQ header: missing extFields length"}
	}
	if int64(extLen) > int64(len(src)-r.pos) {
		return &FrameError{Offset: r.pos, Reason: fmt.Sprintf("ROCKETMQ header: extFields length %d exceeds the %d bytes left", extLen, len(src)-r.pos)}
	}
	end := r.pos + int(extLen)
	for r.pos < end {
		klen, ok := r.u16()
		if !ok || r.pos+int(klen) > end {
			return &FrameError{Offset: r.pos, Reason: "ROCKETMQ header: extFields key runs past the map"}
		}
		key := src[r.pos : r.pos+int(klen)]
		r.pos += int(klen)
		vlen, ok := r.u32()
		if !ok || int64(vlen) > int64(end-r.pos) {
			return &FrameError{Offset: r.pos, Reason: fmt.Sprintf("ROCKETMQ header: value of %q runs past the map", key)}
		}
		val := src[r.pos : r.pos+int(vlen)]
		r.pos += int(vlen)
		c.Ext = append(c.Ext, Field{Key: key, Value: val})
	}
	if r.pos != len(src) {
		return &FrameError{Offset: r.pos, Reason: fmt.Sprintf("ROCKETMQ header: %d bytes after extFields", len(src)-r.pos)}
	}
	return nil
}

type binaryReader struct {
	src string
	pos int
}

func (r *binaryReader) u8() (uint8, bool) {
	if len(r.src)-r.pos < 1 {
		return 0, false
	}
	v := r.src[r.pos]
	r.pos++
	return v, true
}

func (r *binaryReader) u16() (uint16, bool) {
	if len(r.src)-r.pos < 2 {
		return 0, false
	}
	v := uint16(r.src[r.pos])<<8 | uint16(r.src[r.pos+1])
	r.pos += 2
	return v, true
}

func (r *binaryReader) u32() (uint32, bool) {
	if len(r.src)-r.pos < 4 {
		return 0, false
	}
	s := r.src[r.pos : r.pos+4]
	r.pos += 4
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3]), true
}

func (r *binaryReader) str32(what string) (string, error) {
	n, ok := r.u32()
	if !ok {
		return "", &FrameError{Offset: r.pos, Reason: "ROCKETMQ header: missing " + what + " length"}
	}
	if int64(n) > int64(len(r.src)-r.pos) {
		return "", &FrameError{Offset: r.pos, Reason: fmt.Sprintf("ROCKETMQ header: %s length %d exceeds the %d bytes left", what, n, len(r.src)-r.pos)}
	}
	s := r.src[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}
