// Command goenv prints connbroker's Go Environment() of its own binary as
// JSON, for the doctor test (debug.ReadBuildInfo has the module versions
// only in a real build, not in a test binary).
package main

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protojson"

	cbgo "github.com/connbroker/connbroker/clients/go"
)

func main() {
	b, err := protojson.Marshal(cbgo.Environment())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(b))
}
