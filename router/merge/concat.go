package merge

import (
	"bytes"
	"encoding/binary"
	"strconv"
)

// Concatenating aggregates (string_agg, array_agg, json_agg, jsonb_agg)
// without an ORDER BY of their own: PostgreSQL feeds them rows in no
// particular order, so the shards' partials joined in any order are an
// answer one server could give. Each shard's partial is kept as sent and
// joined at the end, in the column's format.

const (
	oidJSON  = 114
	oidJSONB = 3802
)

// concatParts joins the non-NULL partials of one group; nil (NULL) when
// there are none, as the aggregates return for no input rows.
func (p *aggPlan) concatParts(parts [][]byte) ([]byte, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	switch p.Kind {
	case AggStringAgg:
		// text's binary form is its text form.
		return bytes.Join(parts, []byte(p.Sep)), nil
	case AggJSONAgg:
		if p.inOID == oidJSONB && p.format == 1 {
			var inner [][]byte
			for _, b := range parts {
				if len(b) == 0 || b[0] != 1 {
					return nil, errorf(CodeInvalidText, "unexpected jsonb binary version")
				}
				inner = append(inner, b[1:])
			}
			out, err := joinBracketed(inner, '[', ']', ", ")
			return append([]byte{1}, out...), err
		}
		return joinBracketed(parts, '[', ']', ", ")
	case AggArrayAgg:
		if p.format == 1 {
			return concatBinaryArrays(parts)
		}
		return joinBracketed(parts, '{', '}', ",")
	}
	return nil, errorf(CodeInternal, "not a concatenating aggregate")
}

// joinBracketed joins "[a, b]" and "[c]" into "[a, b, c]" (or "{...}"
// array text): the elements of each, in order, one list.
func joinBracketed(parts [][]byte, open, close byte, sep string) ([]byte, error) {
	out := []byte{open}
	for i, b := range parts {
		b = bytes.TrimSpace(b)
		if len(b) < 2 || b[0] != open || b[len(b)-1] != close {
			return nil, errorf(CodeInvalidText, "cannot join aggregate partial "+strconv.Quote(string(b)))
		}
		if i > 0 {
			out = append(out, sep...)
		}
		out = append(out, b[1:len(b)-1]...)
	}
	return append(out, close), nil
}

// concatBinaryArrays joins arrays in PostgreSQL's binary array format
// along their first dimension: the lengths add up, the other dimensions
// must agree, the elements follow one another.
func concatBinaryArrays(parts [][]byte) ([]byte, error) {
	be := binary.BigEndian
	var ndim, flags int32
	var elem uint32
	var first, dims []byte // first dimension's lower bound; the other dimensions
	var total int32
	var body []byte
	started := false
	for _, b := range parts {
		if len(b) < 12 {
			return nil, errorf(CodeInvalidText, "short binary array")
		}
		nd := int32(be.Uint32(b))
		if nd == 0 {
			continue // an empty array adds nothing
		}
		hdr := 12 + 8*int(nd)
		if nd < 0 || len(b) < hdr {
			return nil, errorf(CodeInvalidText, "bad binary array header")
		}
		el := be.Uint32(b[8:])
		if !started {
			ndim, elem, first, dims, started = nd, el, b[16:20], b[20:hdr], true
		} else if nd != ndim || el != elem || !bytes.Equal(dims, b[20:hdr]) {
			return nil, errorf(CodeFeatureUnsupported, "cannot join arrays of different shapes")
		}
		flags |= int32(be.Uint32(b[4:]))
		total += int32(be.Uint32(b[12:]))
		body = append(body, b[hdr:]...)
	}
	if !started {
		return parts[0], nil
	}
	out := be.AppendUint32(nil, uint32(ndim))
	out = be.AppendUint32(out, uint32(flags))
	out = be.AppendUint32(out, elem)
	out = be.AppendUint32(out, uint32(total))
	out = append(out, first...)
	out = append(out, dims...)
	return append(out, body...), nil
}
