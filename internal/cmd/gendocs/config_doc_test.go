package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/connbroker/connbroker/broker/config"
)

// TestConfigurationPageNamesEveryField walks broker/config's YAML keys and
// fails when docs/CONFIGURATION.md's field table leaves one out, so the page
// stays checked against the code. Endpoint fields are spelled "….key",
// policy rule fields "policy[].key"; a struct documented as a whole (e.g.
// "….diagnostic.password") is not walked further; "a.b.{x,y}" names a.b.x
// and a.b.y.
func TestConfigurationPageNamesEveryField(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "CONFIGURATION.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	documented := func(path string) bool {
		if strings.Contains(page, "`"+path+"`") {
			return true
		}
		i := strings.LastIndex(path, ".")
		if i < 0 {
			return false
		}
		re := regexp.MustCompile("`" + regexp.QuoteMeta(path[:i]) + `\.\{([a-z_,]+)\}` + "`")
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			for _, k := range strings.Split(m[1], ",") {
				if k == path[i+1:] {
					return true
				}
			}
		}
		return false
	}
	var missing []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if opts == "inline" {
				walk(prefix, ft)
				continue
			}
			path := prefix + tag
			switch {
			case documented(path):
				continue
			case ft.Kind() == reflect.Map:
				if !documented(path + ".NAME") {
					missing = append(missing, path+".NAME")
				}
				if et := ft.Elem(); et.Kind() == reflect.Struct || (et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct) {
					walk("….", et)
				}
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(path+"[].", ft.Elem())
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]():
				walk(path+".", ft)
			default:
				missing = append(missing, path)
			}
		}
	}
	walk("", reflect.TypeFor[config.Config]())
	for _, m := range missing {
		t.Errorf("docs/CONFIGURATION.md does not document the config key %q (broker/config)", m)
	}
}
