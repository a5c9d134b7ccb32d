package config

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// EndpointMap is the endpoints mapping of a configuration, keyed by name.
//
// It decodes itself because gopkg.in/yaml.v3 checks a mapping's keys for
// duplicates by comparing every key with every later one, which is
// quadratic: 10,000 endpoint names cost 50 M string compares and most of a
// second. Here duplicates are found with a Go map (linear), and the strict
// unknown-key check that Decoder.KnownFields gives the rest of the file is
// done by knownKeys, because yaml.Node.Decode decodes without it.
type EndpointMap map[string]*Endpoint

// UnmarshalYAML decodes a mapping of endpoint names to endpoints, rejecting
// duplicate names and unknown keys with yaml.v3's own messages (so
// decodeProblem turns them into the same FieldErrors as elsewhere).
func (m *EndpointMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		var plain map[string]*Endpoint
		if err := n.Decode(&plain); err != nil {
			return err
		}
		*m = plain
		return nil
	}
	out := make(EndpointMap, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	var problems []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var name string
		if err := k.Decode(&name); err != nil {
			return err
		}
		if line, dup := seen[name]; dup {
			return fmt.Errorf("yaml: line %d: mapping key %q already defined at line %d", k.Line, name, line)
		}
		seen[name] = k.Line
		problems = append(problems, knownKeys(v, endpointType)...)
		var ep *Endpoint
		if err := v.Decode(&ep); err != nil {
			return err
		}
		out[name] = ep
	}
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	*m = out
	return nil
}

var endpointType = reflect.TypeFor[Endpoint]()

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// knownKeys returns, in yaml.v3's KnownFields wording ("line N: field K not
// found in type config.T"), the keys of n that t has no field for, walking
// into nested structs, maps, slices and pointers.
func knownKeys(n *yaml.Node, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil
	}
	var problems []string
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				if k.Value == "<<" {
					continue // merge key: yaml.v3 resolves it
				}
				problems = append(problems, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t.String()))
				continue
			}
			problems = append(problems, knownKeys(v, ft)...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 1; i < len(n.Content); i += 2 {
			problems = append(problems, knownKeys(n.Content[i], t.Elem())...)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for _, item := range n.Content {
			problems = append(problems, knownKeys(item, t.Elem())...)
		}
	}
	return problems
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// yamlFields maps a struct's yaml keys to their types, following
// `yaml:",inline"` structs as yaml.v3 does.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					fields[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fields[name] = sf.Type
	}
	fieldCache.Store(t, fields)
	return fields
}
