package driver

import (
	"strconv"
	"strings"
)

// VersionLess compares dotted versions numerically ("1.0.2" < "1.1.2"); a
// part that does not start with digits counts as 0. An empty version is not
// less than anything.
func VersionLess(a, b string) bool { return versionLess(a, b) }

func versionLess(a, b string) bool {
	if a == "" {
		return false
	}
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := leadingInt(pa, i), leadingInt(pb, i)
		if x != y {
			return x < y
		}
	}
	return false
}

func leadingInt(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	s := parts[i]
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	v, _ := strconv.Atoi(s[:n])
	return v
}
