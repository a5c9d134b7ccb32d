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
		name, ok := plainString(k)
		if !ok {
			if err := k.Decode(&name); err != nil {
				return err
			}
		}
		if line, dup := seen[name]; dup {
			return fmt.Errorf("yaml: line %d: mapping key %q already defined at line %d", k.Line, name, line)
		}
		seen[name] = k.Line
		ep, ok := decodeSimple(v)
		if !ok {
			problems = append(problems, knownKeys(v, endpointType)...)
			if err := v.Decode(&ep); err != nil {
				return err
			}
		}
		out[name] = ep
	}
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	*m = out
	return nil
}

// plainString returns a scalar's value when yaml.v3 decodes it into a
// string as that value: a !!str scalar (plain or quoted text, or tagged
// !!str). Anything else (null, a number, !!binary, a custom tag, an alias)
// is not.
func plainString(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", false
	}
	return n.Value, true
}

// plainPort returns a scalar's value as yaml.v3 decodes it into an int
// when it is a plain decimal: 0, or 1 to 9 digits without a leading zero
// (yaml.v3 reads a leading 0 as octal, _ as a separator: those are not).
func plainPort(n *yaml.Node) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Value == "" || len(n.Value) > 9 || (n.Value[0] == '0' && n.Value != "0") {
		return 0, false
	}
	p := 0
	for i := range len(n.Value) {
		c := n.Value[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		p = p*10 + int(c-'0')
	}
	return p, true
}

// decodeSimple decodes the common shape of an endpoint without yaml.v3's
// reflection: a mapping of known keys, each given once, whose values are
// strings (plainString), port a plain decimal, and tls and password
// mappings of such strings. It is what Node.Decode makes of the same node;
// ok is false for anything else (another key or value type, a duplicate,
// a merge key, an alias, a tag), and the caller decodes that with yaml.v3,
// so its errors are yaml.v3's. A config of 10,000 endpoints spent ~15% of
// connbrokerd's start in Node.Decode and knownKeys.
func decodeSimple(n *yaml.Node) (*Endpoint, bool) {
	if n.Kind != yaml.MappingNode || n.Tag != "!!map" {
		return nil, false
	}
	ep := &Endpoint{}
	var done uint16
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := plainString(k)
		if !ok {
			return nil, false
		}
		var bit uint16
		var dst *string
		switch key {
		case "host":
			bit, dst = 1<<0, &ep.Host
		case "dial":
			bit, dst = 1<<1, &ep.Dial
		case "user":
			bit, dst = 1<<2, &ep.User
		case "database":
			bit, dst = 1<<3, &ep.Database
		case "auth":
			bit, dst = 1<<4, (*string)(&ep.Auth)
		case "plugin":
			bit, dst = 1<<5, &ep.Plugin
		case "region":
			bit, dst = 1<<6, &ep.Region
		case "role_arn":
			bit, dst = 1<<7, &ep.RoleARN
		case "port":
			bit = 1 << 8
		case "tls":
			bit = 1 << 9
		case "password":
			bit = 1 << 10
		default:
			return nil, false
		}
		if done&bit != 0 {
			return nil, false // yaml.v3 reports the duplicate
		}
		done |= bit
		switch key {
		case "port":
			if ep.Port, ok = plainPort(v); !ok {
				return nil, false
			}
		case "tls":
			if !decodeStrings(v, map[string]*string{"mode": (*string)(&ep.TLS.Mode), "ca": &ep.TLS.CA, "server_name": &ep.TLS.ServerName}) {
				return nil, false
			}
		case "password":
			ep.Password = &PasswordSource{}
			if !decodeStrings(v, map[string]*string{"file": &ep.Password.File, "env": &ep.Password.Env, "secretsmanager": &ep.Password.SecretsManager}) {
				return nil, false
			}
		default:
			if *dst, ok = plainString(v); !ok {
				return nil, false
			}
		}
	}
	return ep, true
}

// decodeStrings sets fields from a mapping whose every key is one of
// fields, given once, with a plainString value; false for anything else.
func decodeStrings(n *yaml.Node, fields map[string]*string) bool {
	if n.Kind != yaml.MappingNode || n.Tag != "!!map" {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, ok := plainString(n.Content[i])
		if !ok {
			return false
		}
		dst, known := fields[key]
		if !known {
			return false
		}
		delete(fields, key) // a second one is a duplicate
		if *dst, ok = plainString(n.Content[i+1]); !ok {
			return false
		}
	}
	return true
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
