package driver

import (
	"strconv"
	"strings"
	"testing"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/handshake"
	"github.com/connbroker/connbroker/broker/hints"
)

// TestProfileFollowsTheHints: the handshake profile is read from the
// options the hints set, mode by mode; ssl_disabled means no TLS at all.
func TestProfileFollowsTheHints(t *testing.T) {
	want := map[string]map[config.TLSMode]handshake.TLSUse{
		"pymysql":       {config.TLSDisabled: handshake.TLSOff, config.TLSPreferred: handshake.TLSOpportunistic, config.TLSRequired: handshake.TLSUnverified, config.TLSVerifyCA: handshake.TLSVerifyCA, config.TLSVerifyIdentity: handshake.TLSVerifyIdentity},
		"mariadb-cli":   {config.TLSDisabled: handshake.TLSOff, config.TLSPreferred: handshake.TLSOpportunistic, config.TLSRequired: handshake.TLSUnverified, config.TLSVerifyCA: handshake.TLSVerifyIdentity, config.TLSVerifyIdentity: handshake.TLSVerifyIdentity},
		"go-sql-driver": {config.TLSDisabled: handshake.TLSOff, config.TLSPreferred: handshake.TLSOpportunistic, config.TLSRequired: handshake.TLSUnverified, config.TLSVerifyCA: handshake.TLSVerifyCA, config.TLSVerifyIdentity: handshake.TLSVerifyIdentity},
		"aiomysql":      {config.TLSDisabled: handshake.TLSOff, config.TLSPreferred: handshake.TLSOff, config.TLSRequired: handshake.TLSUnverified, config.TLSVerifyCA: handshake.TLSVerifyCA, config.TLSVerifyIdentity: handshake.TLSVerifyIdentity},
		"connector-j":   {config.TLSDisabled: handshake.TLSOff, config.TLSPreferred: handshake.TLSOpportunistic, config.TLSRequired: handshake.TLSUnverified, config.TLSVerifyCA: handshake.TLSVerifyCA, config.TLSVerifyIdentity: handshake.TLSVerifyIdentity},
	}
	for name, modes := range want {
		d, err := For(name)
		if err != nil {
			t.Fatal(err)
		}
		for m, use := range modes {
			h := d.Render(hints.Input{Host: "h", Port: 3306, User: "u", TLSMode: m, HasCA: true, ServerName: "h"})
			p := d.Profile(h, Facts{Cryptography: true})
			if p.TLS != use {
				t.Errorf("%s %s: TLS %s, want %s (options %v)", name, m, p.TLS, use, h.Options)
			}
			if p.PrefersTLS != (use == handshake.TLSOpportunistic) {
				t.Errorf("%s %s: PrefersTLS %v with TLS %s", name, m, p.PrefersTLS, use)
			}
		}
	}
	// mysqlclient on Connector/C: VERIFY_CA checks the name too.
	d, _ := For("mysqlclient")
	h := d.Render(hints.Input{Host: "h", Port: 1, User: "u", TLSMode: config.TLSVerifyCA, HasCA: true})
	if a, b := d.Profile(h, Facts{}).TLS, d.Profile(h, Facts{MariaDBConnC: true}).TLS; a != handshake.TLSVerifyCA || b != handshake.TLSVerifyIdentity {
		t.Errorf("mysqlclient verify-ca: libmysqlclient %s, Connector/C %s", a, b)
	}
}

// TestOptInsFromHints: opt-ins present in the hints turn on in the profile.
func TestOptInsFromHints(t *testing.T) {
	iam := hints.Input{Host: "h", Port: 3306, User: "u", IAM: true, Plugin: hints.PluginClearText, TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "h"}
	for _, name := range []string{"go-sql-driver", "mysql2", "mysql-cli", "mysql-connector-python", "mysqlclient"} {
		d, _ := For(name)
		if p := d.Profile(d.Render(iam), Facts{}); !p.ClearTextOptIn {
			t.Errorf("%s: the hints' clear-text opt-in is not in the profile", name)
		}
	}
	// Facts.Vars overrides the hints' Env: the process did not set it.
	d, _ := For("mysqlclient")
	if p := d.Profile(d.Render(iam), Facts{Vars: map[string]string{}}); p.ClearTextOptIn {
		t.Errorf("mysqlclient: opt-in without LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN in the process")
	}
	plain := hints.Input{Host: "h", Port: 3306, User: "u", Plugin: hints.PluginCachingSHA2, TLSMode: config.TLSDisabled}
	for name, rsa := range map[string]handshake.RSAMode{"connector-j": handshake.RSARetrieveKey, "mysql-cli": handshake.RSARetrieveKey} {
		d, _ := For(name)
		if p := d.Profile(d.Render(plain), Facts{}); p.RSA != rsa {
			t.Errorf("%s: RSA %s, want %s", name, p.RSA, rsa)
		}
	}
}

// TestLocalhostSocket: drivers that take localhost for the socket get a
// TCP-forcing option, and the profile models the socket without it.
func TestLocalhostSocket(t *testing.T) {
	in := hints.Input{Host: "localhost", Port: 3306, User: "u", TLSMode: config.TLSRequired}
	for _, d := range All() {
		h := d.Render(in)
		p := d.Profile(h, Facts{})
		if p.UnixSocketForLocalhost {
			t.Errorf("%s: the hints for localhost leave the driver on the Unix socket: %v", d.Name, h.Options)
		}
	}
	d, _ := For("mysql-cli")
	h := d.Render(in)
	delete(h.Options, "protocol")
	if !d.Profile(h, Facts{}).UnixSocketForLocalhost {
		t.Errorf("mysql-cli without --protocol=TCP should take the socket")
	}
}

// TestDialHints: with a dial address drivers connect there; those that
// cannot check another TLS name say so.
func TestDialHints(t *testing.T) {
	in := hints.Input{Host: "db.example", Port: 3306, Dial: "127.0.0.1:13306", User: "u", TLSMode: config.TLSVerifyIdentity, HasCA: true, ServerName: "db.example"}
	for _, d := range All() {
		h := d.Render(in)
		addr := h.Options["addr"]
		if addr == nil && h.Options["host"] != nil {
			addr = h.Options["host"].(string) + ":" + strconv.Itoa(h.Options["port"].(int))
		}
		if addr == nil && d.Name == "connector-j" {
			if !strings.HasPrefix(h.DSN, "jdbc:mysql://127.0.0.1:13306/") {
				t.Errorf("connector-j dsn %q", h.DSN)
			}
			addr = "127.0.0.1:13306"
		}
		if addr != "127.0.0.1:13306" {
			t.Errorf("%s connects to %v, want the dial address", d.Name, addr)
		}
		unsupported := false
		for _, w := range h.Warnings {
			unsupported = unsupported || strings.HasPrefix(w, hints.UnsupportedPrefix)
		}
		if (d.Base().Name == "go-sql-driver") == unsupported {
			t.Errorf("%s: unsupported warning %v (only go-sql-driver takes a TLS server name)", d.Name, unsupported)
		}
	}
}
