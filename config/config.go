// Package config decodes YAML configuration files strictly.
//
// Decoding walks the YAML tree against the target struct itself, so that every
// problem is found in one pass and each one names its key path and line: an
// unknown key (with a suggestion when a known key is close), a value of the
// wrong type, a malformed duration or size. Validation problems found later by
// the caller are located by key path with [Doc.Locate], so they carry lines
// too. Nothing is decoded half-way silently: the caller gets either a value
// and no problems, or every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path is the key path, such as "rooms[0].rate_per_minute"; for a
	// setting taken from the environment it is the variable's name.
	Path string
	// Line is the 1-based line in the file; 0 when unknown (or from the
	// environment).
	Line    int
	Message string
}

// Error formats the problem as "line 12: rooms[0].rate_per_minute: must be > 0".
func (p Problem) Error() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a configuration; it is an error when it
// is not empty.
type Problems []Problem

// Add records a problem at path; Locate fills its line in later.
func (ps *Problems) Add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Error lists the problems one per line, in file order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error sorted by line, or nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	sorted := append(Problems(nil), ps...)
	sort.SliceStable(sorted, func(i, j int) bool {
		// Problems without a line (environment, whole file) come last.
		li, lj := sorted[i].Line, sorted[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	return sorted
}

// Doc remembers where each key path of a decoded file was, so that problems
// found after decoding can name their line.
type Doc struct {
	lines map[string]int
}

// Line is the line of the value at path, or of its closest enclosing key
// present in the file; 0 when none is.
func (d *Doc) Line(path string) int {
	if d == nil {
		return 0
	}
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Locate fills in the line of every problem that has none.
func (d *Doc) Locate(ps Problems) Problems {
	for i := range ps {
		if ps[i].Line == 0 {
			ps[i].Line = d.Line(ps[i].Path)
		}
	}
	return ps
}

// Decode decodes the YAML document in data into v, a pointer to a struct
// whose fields carry `yaml:"name"` tags. Fields without a tag are not
// settable from the file. An empty document leaves v as it is.
func Decode(data []byte, v any) (*Doc, Problems) {
	doc := &Doc{lines: map[string]int{}}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return doc, Problems{{Message: "config: Decode needs a non-nil pointer"}}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) || strings.TrimSpace(string(data)) == "" {
			return doc, nil
		}
		return doc, Problems{syntaxProblem(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return doc, Problems{{Line: extra.Line, Message: "only one YAML document is allowed"}}
	}
	d := decoder{doc: doc}
	node := &root
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	d.value(node, rv.Elem(), "")
	return doc, d.problems
}

type decoder struct {
	doc      *Doc
	problems Problems
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf(format, args...)})
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// Defaulter is implemented by types that have defaults of their own. Decode
// calls SetDefaults on every value it creates for a list item, a map value or
// a pointer before filling it from the file, so keys left out keep their
// defaults there too.
type Defaulter interface {
	SetDefaults()
}

var defaulterType = reflect.TypeFor[Defaulter]()

// fresh sets v, a newly created value, to its type's defaults if it has any.
func fresh(v reflect.Value) {
	if v.CanAddr() && v.Addr().Type().Implements(defaulterType) {
		v.Addr().Interface().(Defaulter).SetDefaults()
	}
}

// value decodes n into v, recording every problem under path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		d.doc.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with nothing after it keeps the default
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n, path, "%s", cleanError(err))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			fresh(v.Elem())
		}
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			fresh(s.Index(i))
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "must be a mapping")
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			d.fail(n, path, "config: unsupported map key type %s", v.Type().Key())
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := make(map[string]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if first, dup := seen[key]; dup {
				d.fail(n.Content[i], join(path, key), "key %q is already defined at line %d", key, first)
				continue
			}
			seen[key] = n.Content[i].Line
			elem := reflect.New(v.Type().Elem()).Elem()
			fresh(elem)
			d.value(n.Content[i+1], elem, join(path, key))
			m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of keys to values")
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			d.fail(k, join(path, k.Value), "key %q is already defined at line %d", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := suggest(k.Value, fields); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.problems = append(d.problems, Problem{Path: join(path, k.Value), Line: k.Line, Message: msg})
			continue
		}
		d.value(val, v.Field(idx), join(path, k.Value))
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a single value, not a %s", kindName(n.Kind))
		return
	}
	s := n.Value
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || n.Tag != "!!bool" {
			d.fail(n, path, "must be true or false, not %q", s)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "must be a whole number, not %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "must be a whole number of zero or more, not %q", s)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), v.Type().Bits())
		if err != nil {
			d.fail(n, path, "must be a number, not %q", s)
			return
		}
		v.SetFloat(f)
	default:
		d.fail(n, path, "config: unsupported field type %s", v.Type())
	}
}

// fieldsOf maps the yaml names of t's tagged fields to their index.
func fieldsOf(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = i
	}
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// suggest returns the known key closest to key when it is a likely typo.
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3
	for name := range fields {
		if d := editDistance(key, name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if bestDist > 2 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// syntaxProblem turns a YAML parse error ("yaml: line 3: mapping values are
// not allowed in this context") into a Problem with its line.
func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return Problem{Line: line, Message: "invalid YAML: " + text}
			}
		}
	}
	return Problem{Message: "invalid YAML: " + msg}
}

// cleanError strips yaml's decoration from an error a field's own decoder
// returned, leaving the sentence that explains it.
func cleanError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
				e = rest
			}
			msgs[i] = e
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}
