// Package doctortest runs `python -m connbroker doctor` in real virtualenvs
// built for the environments that break in the field, against the real test
// peers and an in-process broker, and checks the verdict, the fix, the real
// login and that prediction and reality agree.
//
// Each virtualenv is a real `python3 -m venv` whose site-packages holds
// exactly the packages of its case: linked from the pinned installs of the
// repository's .venv (`make venv`), or, for versions that are not pinned
// there (PyMySQL 1.0.2), installed with `pip install --no-deps --target` into
// .cache/doctor (gitignored) once. mysql-connector-python is linked without
// its C extension for the pure case.
package doctortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	cbgo "github.com/connbroker/connbroker/clients/go"
	"github.com/connbroker/connbroker/internal/testbroker"
	mariadbtest "github.com/connbroker/connbroker/internal/testpeer/mariadb"
	mysql8test "github.com/connbroker/connbroker/internal/testpeer/mysql8"
	v1 "github.com/connbroker/connbroker/proto/connbroker/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// report is the part of the doctor's JSON the test checks.
type report struct {
	Driver      string `json:"driver"`
	Environment struct {
		Packages []struct {
			Name          string `json:"name"`
			Version       string `json:"version"`
			ClientLibrary string `json:"client_library"`
			CExtension    bool   `json:"c_extension"`
		} `json:"packages"`
		Env map[string]string `json:"env"`
	} `json:"environment"`
	Drivers []struct {
		Driver  string `json:"driver"`
		Version string `json:"version"`
		Works   bool   `json:"works"`
		Finding *struct {
			Code string `json:"code"`
			Fix  string `json:"fix"`
		} `json:"finding"`
	} `json:"drivers"`
	RealLogin struct {
		OK          bool   `json:"ok"`
		CurrentUser string `json:"current_user"`
		Error       string `json:"error"`
	} `json:"real_login"`
	PredictedWorks bool    `json:"predicted_works"`
	Agrees         bool    `json:"agrees"`
	Works          bool    `json:"works"`
	Fix            string  `json:"fix"`
	ClockOffset    float64 `json:"clock_offset_seconds"`
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

type world struct {
	root string
	br   *testbroker.Broker
	m8   *mysql8test.Server
	m8n  *mysql8test.Server // announces mysql_native_password
}

func setup(t *testing.T) *world {
	t.Helper()
	w := &world{root: moduleRoot(t)}
	dir := t.TempDir()
	mdb := mariadbtest.StartForTest(t, mariadbtest.Options{
		Dir: filepath.Join(dir, "mariadb"),
		IAM: &mariadbtest.IAMOptions{AccessKeyID: testbroker.AccessKeyID, SecretAccessKey: testbroker.SecretAccessKey, Region: testbroker.Region, Host: "127.0.0.1"},
	})
	if !mdb.IAMEnabled {
		t.Fatalf("the MariaDB PAM IAM account is required: %s", mdb.IAMDisabledReason)
	}
	// A MySQL 8 server without TLS: a caching_sha2 account, and an account
	// that authenticates with mysql_clear_password (an LDAP/PAM-style
	// account behind a proxy that lets clear text through without TLS).
	w.m8 = mysql8test.StartForTest(t, mysql8test.Options{
		Accounts: []mysql8test.Account{
			{User: "sha2plain", Password: "sha2plain-pw-1", Plugin: mysql8test.PluginCachingSHA2},
			{User: "ldap", Password: "ldap-pw-1", Plugin: mysql8test.PluginClearPassword},
		},
		AllowClearPasswordWithoutTLS: true,
	})
	// A MySQL 8 server that announces mysql_native_password (an older
	// default_authentication_plugin) with a caching_sha2 account: every
	// login goes through an AuthSwitch to caching_sha2_password.
	// No TLS: without TLS every full authentication needs the RSA step.
	w.m8n = mysql8test.StartForTest(t, mysql8test.Options{
		DefaultPlugin: mysql8test.PluginNative,
		Accounts:      []mysql8test.Account{{User: "sha2", Password: "sha2-pw-1", Plugin: mysql8test.PluginCachingSHA2}},
	})
	pw := func(name, secret string) string {
		p := filepath.Join(dir, name+".pw")
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ep := func(name string, port int, user, db, extra string) string {
		return fmt.Sprintf("  %s:\n    host: 127.0.0.1\n    port: %d\n    user: %s\n    database: %s\n%s", name, port, user, db, extra)
	}
	cfg := "endpoints:\n" +
		ep("orders-sha2-plain", w.m8.Port, "sha2plain", "app", "    auth: password\n    plugin: caching_sha2_password\n    password: {file: "+pw("sha2plain", "sha2plain-pw-1")+"}\n    tls: {mode: disabled}\n") +
		ep("orders-ldap-plain", w.m8.Port, "ldap", "app", "    auth: password\n    password: {file: "+pw("ldap", "ldap-pw-1")+"}\n    tls: {mode: disabled}\n") +
		ep("orders-iam", mdb.Port, mariadbtest.IAMUser, mariadbtest.Database, "    auth: iam\n    region: "+testbroker.Region+"\n    tls: {mode: verify-identity, ca: "+mdb.CAFile+"}\n") +
		ep("orders-authswitch", w.m8n.Port, "sha2", "app", "    auth: password\n    plugin: caching_sha2_password\n    password: {file: "+pw("sha2", "sha2-pw-1")+"}\n    tls: {mode: disabled}\n")
	w.br = testbroker.Start(t, cfg)
	return w
}

// venvSpec is one virtualenv: packages linked from .venv, and pinned
// requirements installed from PyPI into the cache.
type venvSpec struct {
	name  string
	link  []string // distribution names in .venv
	pypi  []string // e.g. "PyMySQL==1.0.2"
	noExt bool     // leave out mysql-connector-python's C extension
}

// connbrokerDeps are what `import connbroker` needs.
var connbrokerDeps = []string{"grpcio", "protobuf", "typing_extensions"}

// buildVenv creates a real virtualenv under the test's temp dir.
func buildVenv(t *testing.T, root string, s venvSpec) string {
	t.Helper()
	src := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("%s missing: run `make venv` (it installs the pinned drivers from requirements-dev.txt)", src)
	}
	srcSite := sitePackages(t, src)
	dir := filepath.Join(t.TempDir(), s.name)
	// The interpreter of .venv: the linked extensions are built for it.
	run(t, "", src, "-m", "venv", "--without-pip", dir)
	site := sitePackages(t, filepath.Join(dir, "bin", "python"))
	for _, d := range append(append([]string{}, connbrokerDeps...), s.link...) {
		linkDist(t, srcSite, site, d, s.noExt)
	}
	for _, req := range s.pypi {
		target := filepath.Join(root, ".cache", "doctor", strings.NewReplacer("==", "-", "[", "", "]", "").Replace(req))
		if _, err := os.Stat(filepath.Join(target, ".complete")); err != nil {
			_ = os.RemoveAll(target)
			run(t, "", filepath.Join(root, ".venv", "bin", "pip"), "install", "--quiet", "--no-deps", "--target", target, req)
			if err := os.WriteFile(filepath.Join(target, ".complete"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		entries, err := os.ReadDir(target)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != ".complete" && e.Name() != "bin" {
				if err := os.Symlink(filepath.Join(target, e.Name()), filepath.Join(site, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	pth := filepath.Join(site, "connbroker-src.pth")
	if err := os.WriteFile(pth, []byte(filepath.Join(root, "clients", "python")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "bin", "python")
}

func sitePackages(t *testing.T, python string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "", python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
}

// linkDist symlinks a distribution's top-level entries (from its RECORD)
// and its .dist-info from srcSite into site.
func linkDist(t *testing.T, srcSite, site, dist string, noExt bool) {
	t.Helper()
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(s)) }
	entries, err := os.ReadDir(srcSite)
	if err != nil {
		t.Fatal(err)
	}
	var info string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".dist-info")
		if ok && norm(n[:strings.LastIndex(n, "-")]) == norm(dist) {
			info = e.Name()
		}
	}
	if info == "" {
		t.Fatalf("%s is not installed in %s: run `make venv`", dist, srcSite)
	}
	rec, err := os.ReadFile(filepath.Join(srcSite, info, "RECORD"))
	if err != nil {
		t.Fatal(err)
	}
	top := map[string]bool{}
	for _, line := range strings.Split(string(rec), "\n") {
		p, _, _ := strings.Cut(line, ",")
		first, _, _ := strings.Cut(p, "/")
		if first == "" || first == ".." || strings.HasSuffix(first, ".pth") || first == "__pycache__" {
			continue
		}
		if noExt && (strings.HasPrefix(first, "_mysql_connector") || strings.HasPrefix(first, "_mysqlxpb")) {
			continue
		}
		top[first] = true
	}
	for name := range top {
		dst := filepath.Join(site, name)
		if _, err := os.Lstat(dst); err == nil {
			continue // a namespace directory (google/) another dist linked already
		}
		if err := os.Symlink(filepath.Join(srcSite, name), dst); err != nil {
			t.Fatal(err)
		}
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// doctor runs the doctor and returns its exit status, JSON report and text.
func doctor(t *testing.T, python, broker string, extraEnv []string, args ...string) (int, []byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"-m", "connbroker", "doctor", "--broker", broker}, args...)
	cmd := exec.CommandContext(ctx, python, argv...)
	cmd.Dir = t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIBMYSQL_") && !strings.HasPrefix(kv, "CONNBROKER_") && !strings.HasPrefix(kv, "PYTHON") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.Bytes(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.Bytes(), stderr.String()
	}
	t.Fatalf("doctor: %v\n%s", err, stderr.String())
	return 0, nil, ""
}

// verdict is what each case must produce.
type verdict struct {
	Exit           int
	PredictedWorks bool
	RealOK         bool
	Agrees         bool
	Code           string // the app driver's finding code
}

func TestDoctorEnvironments(t *testing.T) {
	w := setup(t)
	emptyDir := t.TempDir()
	cases := []struct {
		name     string
		venv     venvSpec
		env      []string // extra environment of the app's process
		endpoint string
		driver   string
		before   func(t *testing.T)
		want     verdict
		fix      string // substring of the fix
		realErr  string // substring of the real login's error
		check    func(t *testing.T, r report)
	}{
		{
			name:     "PyMySQL without cryptography, caching_sha2 over plain TCP after a cache flush",
			venv:     venvSpec{name: "pymysql-nocrypto", link: []string{"PyMySQL"}},
			endpoint: "orders-sha2-plain", driver: "pymysql",
			before: func(*testing.T) { w.m8.InvalidateCache() },
			want:   verdict{Exit: 1, Code: "rsa-package-missing", Agrees: true},
			fix:    `pip install "PyMySQL[rsa]"`, realErr: "'cryptography' package is required",
		},
		{
			// A slim image that copied libmariadb.so.3 but not its plugin
			// directory: Connector/C loads mysql_clear_password from a file.
			name:     "mysqlclient on MariaDB Connector/C whose plugin directory lacks mysql_clear_password, IAM account",
			venv:     venvSpec{name: "mysqlclient-noplugins", link: []string{"mysqlclient"}},
			env:      []string{"MARIADB_PLUGIN_DIR=" + emptyDir},
			endpoint: "orders-iam", driver: "mysqlclient",
			want: verdict{Exit: 1, Code: "client-plugin-missing", Agrees: true},
			// MariaDB Connector/C 3.3's own words (seen here; libmariadb/ma_client_plugin.c):
			// error 1045 "Plugin mysql_clear_password could not be loaded: ...".
			fix: "mysql_clear_password.so is not in the client plugin directory", realErr: "(1045, 'Plugin mysql_clear_password could not be loaded: ",
		},
		{
			name:     "mysqlclient on MariaDB Connector/C without LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN, IAM account",
			venv:     venvSpec{name: "mysqlclient-connc", link: []string{"mysqlclient"}},
			endpoint: "orders-iam", driver: "mysqlclient",
			want: verdict{Exit: 0, PredictedWorks: true, RealOK: true, Agrees: true},
			check: func(t *testing.T, r report) {
				if _, set := r.Environment.Env["LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN"]; set {
					t.Errorf("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN is set in the environment: %v", r.Environment.Env)
				}
				lib := ""
				for _, p := range r.Environment.Packages {
					if p.Name == "mysqlclient" {
						lib = p.ClientLibrary
					}
				}
				if !strings.HasPrefix(lib, "MariaDB Connector/C") {
					t.Errorf("mysqlclient client library %q, want MariaDB Connector/C (Debian's libmariadb)", lib)
				}
				if !strings.HasPrefix(r.RealLogin.CurrentUser, mariadbtest.IAMUser+"@") {
					t.Errorf("real login as %q, want %s", r.RealLogin.CurrentUser, mariadbtest.IAMUser)
				}
			},
		},
		{
			// With the account cached, a correct PyMySQL without cryptography
			// logs in on the fast path; 1.0.2's scramble never matches, so the
			// server asks for full authentication, which needs RSA.
			name:     "PyMySQL 1.0.2 without cryptography after an AuthSwitch to caching_sha2, server cache warm",
			venv:     venvSpec{name: "pymysql-102", pypi: []string{"PyMySQL==1.0.2"}},
			endpoint: "orders-authswitch", driver: "pymysql",
			before: func(t *testing.T) {
				// Another client logged in: the server caches the account.
				resp, err := w.br.Client.ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{Endpoints: []string{"orders-authswitch"}})
				if err != nil || !resp.GetOk() {
					t.Fatalf("warm-up validation: %v %v", err, resp.GetResults())
				}
			},
			want: verdict{Exit: 1, Code: "pymysql-authswitch-fast-auth-bug", Agrees: true},
			fix:  `pip install "PyMySQL[rsa]>=1.1.2"`, realErr: "'cryptography' package is required",
			check: func(t *testing.T, r report) {
				// The server saw PyMySQL 1.0.2 fail the fast path with a warm cache.
				var got []mysql8test.Login
				for _, l := range w.m8n.Logins() {
					if l.FullAuth && !l.OK {
						got = append(got, l)
					}
				}
				if len(got) == 0 {
					t.Errorf("no failed full authentication on the AuthSwitch server: %+v", w.m8n.Logins())
				}
			},
		},
		{
			name:     "mysql-connector-python pure, caching_sha2 over plain TCP after a cache flush",
			venv:     venvSpec{name: "connector-pure-sha2", link: []string{"mysql-connector-python"}, noExt: true},
			endpoint: "orders-sha2-plain", driver: "mysql-connector-python-pure",
			before: func(*testing.T) { w.m8.InvalidateCache() },
			want:   verdict{Exit: 1, Code: "full-auth-driver-requires-tls", Agrees: true},
			// The password goes out unencrypted where the server expects RSA:
			// go-mysql answers 1105 "crypto/rsa: decryption error" (MySQL: 1045).
			fix: "enable TLS", realErr: "crypto/rsa: decryption error",
		},
		{
			name:     "mysql-connector-python pure against a clear-text account without TLS",
			venv:     venvSpec{name: "connector-pure", link: []string{"mysql-connector-python"}, noExt: true},
			endpoint: "orders-ldap-plain", driver: "mysql-connector-python-pure",
			want: verdict{Exit: 1, Code: "cleartext-driver-requires-tls", Agrees: true},
			fix:  "enable TLS", realErr: "mysql_clear_password requires SSL",
		},
	}
	for _, tc := range cases {
		t.Run(tc.venv.name, func(t *testing.T) {
			python := buildVenv(t, w.root, tc.venv)
			if tc.before != nil {
				tc.before(t)
			}
			start := time.Now()
			code, out, stderr := doctor(t, python, w.br.Addr, tc.env, tc.endpoint, "--driver", tc.driver, "-o", "json")
			t.Logf("%s: doctor took %s", tc.name, time.Since(start).Round(time.Millisecond))
			var r report
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("doctor exit %d, output %q, stderr %s: %v", code, out, stderr, err)
			}
			got := verdict{Exit: code, PredictedWorks: r.PredictedWorks, RealOK: r.RealLogin.OK, Agrees: r.Agrees}
			if len(r.Drivers) > 0 && r.Drivers[0].Finding != nil {
				got.Code = r.Drivers[0].Finding.Code
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: verdict (-want +got):\n%s\nreport: %s\nstderr: %s", tc.name, diff, out, stderr)
			}
			if !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("fix %q, want it to contain %q", r.Fix, tc.fix)
			}
			if !strings.Contains(r.RealLogin.Error, tc.realErr) {
				t.Errorf("real login error %q, want it to contain %q", r.RealLogin.Error, tc.realErr)
			}
			if len(r.Drivers) == 0 || r.Drivers[0].Driver != tc.driver {
				t.Errorf("first prediction is not the app's driver %s: %+v", tc.driver, r.Drivers)
			}
			if r.ClockOffset > 5 || r.ClockOffset < -5 {
				t.Errorf("clock offset %.3fs against a broker on the same machine", r.ClockOffset)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			// The text form for people says the same (docs/DOCTOR.md shows one).
			if tc.before != nil {
				tc.before(t)
			}
			tcode, text, _ := doctor(t, python, w.br.Addr, tc.env, tc.endpoint, "--driver", tc.driver)
			if tcode != code || (tc.fix != "" && !strings.Contains(string(text), "Fix: "+tc.fix)) || !strings.Contains(string(text), "Verdict: ") {
				t.Errorf("text output (exit %d, json exit %d) lacks the verdict or \"Fix: %s\":\n%s", tcode, code, tc.fix, text)
			}
			t.Logf("python -m connbroker doctor %s --driver %s\n%s", tc.endpoint, tc.driver, text)
		})
	}
	// Oracle's libmysqlclient is not installable on Debian 12, so the
	// mysqlclient build linked against it cannot run here: the environment
	// is sent as that build would report it, and the broker's prediction is
	// played against the real PAM IAM account.
	t.Run("libmysqlclient-prediction", func(t *testing.T) {
		for _, tc := range []struct {
			env      map[string]string
			want     bool
			wantCode string
		}{
			{env: nil, want: false, wantCode: "cleartext-env-missing"},
			{env: map[string]string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN": "1"}, want: true},
			{env: map[string]string{"LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN": "0"}, want: false, wantCode: "cleartext-env-missing"},
		} {
			resp, err := w.br.Client.ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{
				Endpoints: []string{"orders-iam"},
				ClientEnvironment: &v1.ClientEnvironment{Driver: "mysqlclient", Env: tc.env, ClientTime: timestamppb.Now(),
					Packages: []*v1.ClientPackage{{Name: "mysqlclient", Version: "2.2.7", ClientLibrary: "libmysqlclient 8.0.40"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			d := resp.GetResults()[0].GetEnvironment().GetDrivers()
			if len(d) != 1 {
				t.Fatalf("env %v: %d predictions, want 1: %v", tc.env, len(d), d)
			}
			if d[0].GetWorks() != tc.want || d[0].GetFinding().GetCode() != tc.wantCode {
				t.Errorf("env %v: works=%v code=%q, want works=%v code=%q (%v)", tc.env, d[0].GetWorks(), d[0].GetFinding().GetCode(), tc.want, tc.wantCode, d[0])
			}
		}
	})
	t.Run("clock-skew-and-missing-driver", func(t *testing.T) {
		resp, err := w.br.Client.ValidateConnection(context.Background(), &v1.ValidateConnectionRequest{
			Endpoints: []string{"orders-iam"},
			ClientEnvironment: &v1.ClientEnvironment{Driver: "aiomysql", ClientTime: timestamppb.New(time.Now().Add(-10 * time.Minute)),
				Packages: []*v1.ClientPackage{{Name: "PyMySQL", Version: "1.2.4"}, {Name: "cryptography", Version: "50.0.2"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		rep := resp.GetResults()[0].GetEnvironment()
		var codes []string
		for _, f := range rep.GetFindings() {
			codes = append(codes, f.GetCode())
		}
		if diff := cmp.Diff([]string{"client-clock-skew", "driver-not-installed"}, codes); diff != "" {
			t.Errorf("environment findings (-want +got):\n%s", diff)
		}
		if off := rep.GetClockOffset().AsDuration(); off < 9*time.Minute || off > 11*time.Minute {
			t.Errorf("clock offset %s, want about 10m", off)
		}
		if len(rep.GetDrivers()) != 1 || rep.GetDrivers()[0].GetDriver() != "pymysql" || !rep.GetDrivers()[0].GetWorks() {
			t.Errorf("drivers %v, want pymysql working (IAM over TLS)", rep.GetDrivers())
		}
	})
	t.Run("go-helper", func(t *testing.T) {
		res, err := cbgo.Doctor(context.Background(), w.br.Client, "orders-iam")
		if err != nil {
			t.Fatal(err)
		}
		d := res.Validation.GetEnvironment().GetDrivers()
		if len(d) != 1 || d[0].GetDriver() != "go-sql-driver" || !res.Works() {
			t.Errorf("go helper: login %v, predictions %v; want go-sql-driver working", res.Login, d)
		}
		// A real build reports the go-sql-driver version it was built with.
		bin := filepath.Join(t.TempDir(), "goenv")
		run(t, w.root, "go", "build", "-o", bin, "./internal/doctortest/goenv")
		var env struct {
			Packages []struct{ Name, Version string } `json:"packages"`
			CABundle string                           `json:"caBundle"`
		}
		if err := json.Unmarshal([]byte(run(t, "", bin)), &env); err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace(run(t, w.root, "go", "list", "-m", "-f", "{{.Version}}", cbgo.DriverModule))
		if diff := cmp.Diff([]struct{ Name, Version string }{{cbgo.DriverModule, want}}, env.Packages); diff != "" {
			t.Errorf("Environment().packages of a real build (-want +got):\n%s", diff)
		}
		if env.CABundle == "" {
			t.Errorf("Environment().ca_bundle is empty on a machine with ca-certificates")
		}
	})
}
