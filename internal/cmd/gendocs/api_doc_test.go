package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
)

// TestAPIPageNamesEveryRPC fails when docs/API.md leaves out an RPC of the
// proto: a new RPC needs its row (what it returns, its errors).
func TestAPIPageNamesEveryRPC(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	svcs := v1.File_connbroker_v1_broker_proto.Services()
	if svcs.Len() == 0 {
		t.Fatal("the proto has no service")
	}
	for i := range svcs.Len() {
		ms := svcs.Get(i).Methods()
		for j := range ms.Len() {
			if name := string(ms.Get(j).Name()); !strings.Contains(page, "`"+name+"(") && !strings.Contains(page, "`"+name+"`") {
				t.Errorf("docs/API.md has no row for the RPC %s.%s", svcs.Get(i).FullName(), name)
			}
		}
	}
}
