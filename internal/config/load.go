package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration file.
type Error struct {
	File string // as given to Load or Parse
	Line int    // 1-based; 0 when the problem has no position
	Key  string // path of the key, e.g. "databases[0].shards[1].primary.port"; "" for the file as a whole
	Msg  string
}

// Error formats as "file:line: key: message", the form editors and CI logs
// turn into links.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, decodes, fills in defaults and validates the configuration
// file at path. Relative file names inside it (certificates, CA files) are
// taken relative to the file's directory, so the result does not depend on
// the working directory pgshard is started from.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(data, path)
}

// Parse is Load for a file already read. name is used in error messages and
// its directory anchors relative file names, as in Load.
//
// The error, if any, joins (errors.Join) one *Error per problem, in line
// order; errors.As finds the first.
func Parse(data []byte, name string) (*Config, error) {
	root, err := parseDocument(data, name)
	if err != nil {
		return nil, err
	}
	ix := newIndex(root)

	// The second pass decodes into the typed structs. KnownFields makes a
	// misspelt key an error instead of a silently ignored line; the yaml.Node
	// from the first pass gives those errors their key paths.
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []*Error
	var typeErr *yaml.TypeError
	if err := dec.Decode(&cfg); errors.As(err, &typeErr) {
		for _, msg := range typeErr.Errors {
			errs = append(errs, ix.translate(name, msg))
		}
	} else if err != nil {
		return nil, syntaxError(name, err)
	}

	applyDefaults(&cfg, ix, name)
	v := &validator{file: name, ix: ix}
	v.validate(&cfg)
	// A value that failed to decode was left zero; the checks of the
	// validator would only restate that (e.g. "users: at least one user" for
	// a users that is not a list), so they are dropped under such keys.
	decodeErrs := slices.Clone(errs)
	for _, e := range v.errs {
		if !slices.ContainsFunc(decodeErrs, func(d *Error) bool { return d.Key != "" && under(e.Key, d.Key) }) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return &cfg, nil
}

// parseDocument decodes data into a node tree, rejecting anything that is
// not exactly one YAML mapping.
func parseDocument(data []byte, name string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, &Error{File: name, Msg: "empty configuration: no YAML document"}
	case err != nil:
		return nil, syntaxError(name, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(name, err)
	default:
		return nil, &Error{File: name, Line: next.Line, Msg: "a second YAML document: the configuration is one document"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return nil, &Error{File: name, Line: root.Line, Msg: "empty configuration: the document is null"}
	case root.Kind != yaml.MappingNode:
		return nil, &Error{File: name, Line: root.Line, Msg: "the configuration must be a mapping of keys to values, got " + describeNode(root)}
	}
	return root, nil
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml's "yaml: line 3: ..." into a positioned *Error. A
// syntax error has no key: the parser has not got far enough to know one.
func syntaxError(name string, err error) error {
	msg := err.Error()
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// joinErrors sorts errs by line, keeping the order of errors on one line,
// and joins them.
func joinErrors(errs []*Error) error {
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// under reports whether key is path or lies inside it.
func under(key, path string) bool {
	if !strings.HasPrefix(key, path) {
		return false
	}
	rest := key[len(path):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// index maps key paths ("pool.mode", "users[1].name") to their nodes, so
// decoding and validation errors can name a line, and defaults can tell an
// absent key from one set to its zero value ("idle_timeout: 0" means keep
// connections, absent means 10m).
type index struct {
	root    *yaml.Node
	byPath  map[string]*entry
	entries []*entry // document order, including duplicates and unknown keys
	blamed  map[*entry]bool
}

type entry struct {
	path  string
	key   *yaml.Node // nil for a list item
	value *yaml.Node // aliases resolved
}

// line is where the entry starts: its key, or the "-" of a list item.
func (e *entry) line() int {
	if e.key != nil {
		return e.key.Line
	}
	return e.value.Line
}

func newIndex(root *yaml.Node) *index {
	ix := &index{root: root, byPath: map[string]*entry{}, blamed: map[*entry]bool{}}
	ix.walk("", root, false, 0)
	return ix
}

// maxDepth bounds the walk through aliases; yaml itself refuses alias
// cycles, this only keeps a pathological file from costing much.
const maxDepth = 64

func (ix *index) walk(path string, n *yaml.Node, merged bool, depth int) {
	if depth > maxDepth {
		return
	}
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			ix.add(&entry{path: join(path, k.Value), key: k, value: resolve(v)}, merged, depth)
		}
		// Merged keys ("<<: *defaults") count as present unless the mapping
		// sets them itself, as in yaml's own decoding.
		for _, m := range merges {
			m = resolve(m)
			if m.Kind == yaml.SequenceNode {
				for _, item := range m.Content {
					ix.walk(path, item, true, depth+1)
				}
			} else {
				ix.walk(path, m, true, depth+1)
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			ix.add(&entry{path: fmt.Sprintf("%s[%d]", path, i), value: resolve(item)}, merged, depth)
		}
	}
}

func (ix *index) add(e *entry, merged bool, depth int) {
	if _, ok := ix.byPath[e.path]; ok && merged {
		return // set explicitly, which wins over a merge
	}
	ix.entries = append(ix.entries, e)
	ix.byPath[e.path] = e
	ix.walk(e.path, e.value, merged, depth+1)
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// has reports whether path is set to something other than null: a key
// written as "idle_timeout:" or "idle_timeout: ~" takes its default.
func (ix *index) has(path string) bool {
	e, ok := ix.byPath[path]
	return ok && !(e.value.Kind == yaml.ScalarNode && e.value.ShortTag() == "!!null")
}

// line returns the line of path or, for a key that is absent, of the
// nearest enclosing key or list item that is present: a missing
// "databases[0].shards[1].primary" is reported at the shard.
func (ix *index) line(path string) int {
	for {
		if e, ok := ix.byPath[path]; ok {
			return e.line()
		}
		if path == "" {
			return ix.root.Line
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			i = 0
		}
		path = path[:i]
	}
}

var (
	typeErrLine  = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (.+) not found in type (\S+)$`)
	dupField     = regexp.MustCompile(`^field (.+) already set in type \S+$`)
	dupKey       = regexp.MustCompile(`^mapping key "(.*)" already defined at line (\d+)$`)
	cannotDecode = regexp.MustCompile(`^cannot unmarshal (!!\w+)(?: ` + "`(.*)`" + `)? into (\S+)$`)
)

// translate turns one of yaml's type error strings into an *Error with the
// key path and a plainer message. The formats are those of yaml.v3's
// decoder; a string that matches none is kept as it is, still positioned.
func (ix *index) translate(file, msg string) *Error {
	m := typeErrLine.FindStringSubmatch(msg)
	if m == nil {
		return &Error{File: file, Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	e := &Error{File: file, Line: line, Msg: m[2]}
	byKey := func(key string) *entry {
		for _, en := range ix.entries {
			if en.key != nil && en.key.Line == line && en.key.Value == key {
				return en
			}
		}
		return nil
	}
	if m := unknownField.FindStringSubmatch(e.Msg); m != nil {
		e.Msg = "unknown key"
		if known := knownKeys(m[2]); known != "" {
			e.Msg += "; valid keys here are " + known
		}
		if en := byKey(m[1]); en != nil {
			e.Key = en.path
		}
	} else if m := dupField.FindStringSubmatch(e.Msg); m != nil {
		e.Msg = "key is set twice in one mapping"
		if en := byKey(m[1]); en != nil {
			e.Key = en.path
		}
	} else if m := dupKey.FindStringSubmatch(e.Msg); m != nil {
		e.Msg = "key is set twice in one mapping (first at line " + m[2] + ")"
		if en := byKey(m[1]); en != nil {
			e.Key = en.path
		}
	} else if m := cannotDecode.FindStringSubmatch(e.Msg); m != nil {
		// Several values can start on one line ("pool:\n  size: x" puts the
		// pool mapping and the size on line 2, "{size: x, min_idle: y}" two
		// scalars); the tag and the (abbreviated) value in the message tell
		// which one yaml rejected, and an entry already blamed is skipped.
		for _, en := range ix.entries {
			if en.value.Line == line && en.value.ShortTag() == m[1] && !ix.blamed[en] &&
				(m[2] == "" || abbreviate(en.value.Value) == m[2]) {
				ix.blamed[en] = true
				e.Key = en.path
				e.Msg = "want " + describeType(m[3]) + ", got " + describeNode(en.value)
				break
			}
		}
	}
	return e
}

// abbreviate shortens a value as yaml's type errors do.
func abbreviate(v string) string {
	if len(v) > 10 {
		return v[:7] + "..."
	}
	return v
}

// describeType names a Go type the way the configuration's reader thinks of it.
func describeType(goType string) string {
	switch goType {
	case "int", "int64":
		return "an integer"
	case "bool":
		return "true or false"
	case "time.Duration":
		return `a duration with a unit, such as "500ms", "5s" or "10m"`
	case "string", "config.Secret", "config.PoolMode", "config.AuthMethod", "config.ServerTLS", "config.ReadFallback":
		return "a string"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(strings.TrimPrefix(goType, "*"), "config."):
		return "a mapping"
	}
	return goType
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// sections are the configuration's struct types by the name yaml's errors
// use, for listing the keys valid where an unknown one was found.
var sections = map[string]reflect.Type{}

func init() {
	for _, v := range []any{Config{}, TLS{}, Pool{}, TwoPhase{}, Admin{}, Reads{}, Monitor{}, User{}, Database{}, Shard{}, Node{}} {
		t := reflect.TypeOf(v)
		sections[t.String()] = t
	}
}

func knownKeys(goType string) string {
	t, ok := sections[goType]
	if !ok {
		return ""
	}
	keys := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return strings.Join(keys, ", ")
}
