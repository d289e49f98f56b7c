package router

import (
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walkChildren calls f for each node directly below n, looking through the
// plain message fields (SelectStmt.Larg, Alias...) that are not Nodes,
// in the order the fields are declared: a SELECT's select list before
// its FROM list and WHERE clause, and so on.
func walkChildren(n *pg.Node, f func(*pg.Node)) {
	if n == nil {
		return
	}
	m := n.ProtoReflect()
	inOrder(m, func(_ protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		eachNode(v.Message(), f)
		return true
	})
}

// inOrder is m.Range in the order m's fields are declared. Range's order
// is not that: protobuf-go swaps two of a message's fields in it, or not,
// by a hash of the running binary, so that nobody depends on it. Walking
// by it made which subquery or table the stager tried first, and so the
// plan of some statements, differ from one build of pgshard to the next.
func inOrder(m protoreflect.Message, f func(protoreflect.FieldDescriptor, protoreflect.Value) bool) {
	for _, e := range walkOrder(m.Descriptor()) {
		fd := e.field
		if e.oneof != nil {
			// Node is one oneof of some 270 fields: ask which is set.
			if fd = m.WhichOneof(e.oneof); fd == nil {
				continue
			}
		} else if !m.Has(fd) {
			continue
		}
		if !f(fd, m.Get(fd)) {
			return
		}
	}
}

// walkEntry is a message field that can hold a message, or a oneof.
type walkEntry struct {
	field protoreflect.FieldDescriptor
	oneof protoreflect.OneofDescriptor
}

// walkOrders caches walkOrder by message descriptor.
var walkOrders sync.Map

// walkOrder is the order inOrder visits md's fields in: declared order, a
// oneof once where its first field stands, fields that hold no message
// left out.
func walkOrder(md protoreflect.MessageDescriptor) []walkEntry {
	if v, ok := walkOrders.Load(md); ok {
		return v.([]walkEntry)
	}
	var out []walkEntry
	fields := md.Fields()
	for i := 0; i < fields.Len(); {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			out = append(out, walkEntry{oneof: od})
			i += od.Fields().Len() // a oneof's fields are declared together
			continue
		}
		if fd.Message() != nil {
			out = append(out, walkEntry{field: fd})
		}
		i++
	}
	walkOrders.Store(md, out)
	return out
}

func eachNode(m protoreflect.Message, f func(*pg.Node)) {
	inOrder(m, func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		one := func(sub protoreflect.Message) {
			if n, ok := sub.Interface().(*pg.Node); ok {
				f(n)
				return
			}
			eachNode(sub, f)
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				one(l.Get(i).Message())
			}
			return true
		}
		if !fd.IsMap() {
			one(v.Message())
		}
		return true
	})
}

// visit calls f on n and, while f returns true, on everything below it.
func visit(n *pg.Node, f func(*pg.Node) bool) {
	if n == nil || !f(n) {
		return
	}
	walkChildren(n, func(c *pg.Node) { visit(c, f) })
}
