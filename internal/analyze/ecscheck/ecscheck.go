package ecscheck

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Field is one ECS field definition.
type Field struct {
	Type  string // keyword, long, ip, date, object …
	Array bool   // ECS normalizes the field to an array
}

// Fields are definitions by dotted field name.
type Fields map[string]Field

// Read reads rows of ECS's generated/csv/fields.csv (# comments allowed).
func Read(path string) (Fields, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ecscheck: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("ecscheck: %s: %w", path, err)
	}
	out := Fields{}
	for _, row := range rows[1:] {
		out[row[3]] = Field{Type: row[4], Array: row[6] == "array"}
	}
	return out, nil
}

// Validate checks every leaf of an event: the name exists, the JSON value
// fits the type, arrays only where ECS says the field is an array; and the
// fields every DNS event needs are there. It returns the problems found.
func Validate(fields Fields, event []byte) []string {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var problems []string
	var walk func(name string, v any, inArray bool)
	walk = func(name string, v any, inArray bool) {
		if m, ok := v.(map[string]any); ok && (name == "" || fields[name].Type == "object" || fields[name].Type == "") {
			if name != "" && fields[name].Type == "" && !fields.isPrefix(name) {
				problems = append(problems, name+": not an ECS field")
				return
			}
			for k, x := range m {
				n := k
				if name != "" {
					n = name + "." + k
				}
				walk(n, x, false)
			}
			return
		}
		f, ok := fields[name]
		if !ok {
			problems = append(problems, name+": not an ECS field")
			return
		}
		if a, ok := v.([]any); ok {
			if !f.Array || inArray {
				problems = append(problems, name+": array where ECS has one value")
				return
			}
			for _, x := range a {
				walk(name, x, true)
			}
			return
		}
		var okType bool
		switch f.Type {
		case "keyword":
			_, okType = v.(string)
		case "long":
			n, isNum := v.(json.Number)
			_, err := n.Int64()
			okType = isNum && err == nil
		case "ip":
			s, isStr := v.(string)
			_, err := netip.ParseAddr(s)
			okType = isStr && err == nil
		case "date":
			s, isStr := v.(string)
			_, err := time.Parse(time.RFC3339Nano, s)
			okType = isStr && err == nil
		}
		if !okType {
			problems = append(problems, name+": value does not fit type "+f.Type)
		}
	}
	walk("", v, false)
	for _, req := range []string{"@timestamp", "dns.type", "event.kind", "network.protocol"} {
		if !hasPath(v, req) {
			problems = append(problems, req+": missing")
		}
	}
	return problems
}

func (fields Fields) isPrefix(name string) bool {
	for k := range fields {
		if strings.HasPrefix(k, name+".") {
			return true
		}
	}
	return false
}

func hasPath(v map[string]any, path string) bool {
	if _, ok := v[path]; ok {
		return true
	}
	var cur any = v
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[p]; !ok {
			return false
		}
	}
	return true
}
