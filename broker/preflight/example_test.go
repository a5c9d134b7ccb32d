package preflight_test

import (
	"fmt"

	"github.com/connbroker/connbroker/broker/preflight"
)

func ExampleParseChange() {
	c, err := preflight.ParseChange("driver=node-mysql2@3.22.0")
	fmt.Println(c, err)
	_, err = preflight.ParseChange("tls=on")
	fmt.Println(err)
	// Output:
	// driver=mysql2@3.22.0 <nil>
	// bad change "tls=on": unknown kind "tls"; valid changes: plugin=caching_sha2_password|mysql_native_password|sha256_password|client_ed25519, auth=iam, require-tls, proxy-iam=required, ca=FILE, driver=NAME@VERSION
}
