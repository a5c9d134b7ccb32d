package connbrokerv1

import (
	"fmt"
	"reflect"
	"slices"
)

// This file is hand-written (not generated): helpers over the generated
// hint option messages.

// OptionsMap returns hint options as a plain map: string, int64 and bool
// values, and map[string]any for a nested group (e.g. mysql2's "ssl"). An
// option without a value (from a newer broker) maps to nil.
func OptionsMap(opts []*HintOption) map[string]any {
	out := make(map[string]any, len(opts))
	for _, o := range opts {
		out[o.GetName()] = o.Any()
	}
	return out
}

// Any returns the option's value as string, int64, bool or, for a nested
// group, map[string]any; nil when no value is set.
func (o *HintOption) Any() any {
	switch v := o.GetValue().(type) {
	case *HintOption_StringValue:
		return v.StringValue
	case *HintOption_IntValue:
		return v.IntValue
	case *HintOption_BoolValue:
		return v.BoolValue
	case *HintOption_OptionsValue:
		return OptionsMap(v.OptionsValue.GetOptions())
	}
	return nil
}

// Option returns the hint option named name, or nil.
func (h *DriverHints) Option(name string) *HintOption {
	for _, o := range h.GetOptions() {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

// OptionsFromMap converts options as the broker's domain holds them
// (string, integer and bool values, or nested map[string]any groups) into
// hint options sorted by name. Another value type is an error.
func OptionsFromMap(opts map[string]any) ([]*HintOption, error) {
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]*HintOption, len(names))
	for i, k := range names {
		o := &HintOption{Name: k}
		switch v := opts[k].(type) {
		case string:
			o.Value = &HintOption_StringValue{StringValue: v}
		case bool:
			o.Value = &HintOption_BoolValue{BoolValue: v}
		case int, int32, int64, uint16, uint32:
			o.Value = &HintOption_IntValue{IntValue: reflect.ValueOf(v).Convert(reflect.TypeFor[int64]()).Int()}
		case map[string]any:
			nested, err := OptionsFromMap(v)
			if err != nil {
				return nil, fmt.Errorf("option %s: %w", k, err)
			}
			o.Value = &HintOption_OptionsValue{OptionsValue: &HintOptions{Options: nested}}
		case map[string]string:
			m := make(map[string]any, len(v))
			for mk, mv := range v {
				m[mk] = mv
			}
			nested, _ := OptionsFromMap(m)
			o.Value = &HintOption_OptionsValue{OptionsValue: &HintOptions{Options: nested}}
		default:
			return nil, fmt.Errorf("hint option %s: unsupported value type %T", k, v)
		}
		out[i] = o
	}
	return out, nil
}
