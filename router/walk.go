package router

import (
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
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if m.Has(fd) && !f(fd, m.Get(fd)) {
			return
		}
	}
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
