package credential

import (
	"strings"
	"testing"
)

func TestParseSecret(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{`{"username":"app","password":"p@ss{w}","engine":"mysql","host":"h","port":3306}`, "p@ss{w}", false},
		{`  {"password":"x"}`, "x", false},
		{"plain-password", "plain-password", false},
		{`{"username":"app"}`, "", true},
		{`{"password":""}`, "", true},
		{`{"password":"leak-me"`, "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := parseSecret(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseSecret(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "leak-me") {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}
