package router

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walkChildren calls f for each node directly below n, looking through the
// plain message fields (SelectStmt.Larg, Alias...) that are not Nodes.
func walkChildren(n *pg.Node, f func(*pg.Node)) {
	if n == nil {
		return
	}
	m := n.ProtoReflect()
	m.Range(func(_ protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		eachNode(v.Message(), f)
		return true
	})
}

func eachNode(m protoreflect.Message, f func(*pg.Node)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
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
