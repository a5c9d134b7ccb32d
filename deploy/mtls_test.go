package deploy

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/internal/testpki"
)

// tlsDir is where the Deployment mounts the broker's TLS Secret.
const tlsDir = "/etc/connbroker-tls/"

// parseConfigMap validates the ConfigMap's config with the broker's own
// validator. The TLS files it names live in the pod; here they are real
// PEM files of a test CA in a temp dir, at the same names.
func parseConfigMap(t *testing.T, cfgYAML string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	ca := testpki.NewCA(t, "connbroker-ca")
	f := ca.WriteFiles(t, dir, "server", testpki.LoopbackServer())
	for name, src := range map[string]string{"tls.crt": f.Cert, "tls.key": f.Key, "ca.crt": ca.WriteCA(t, dir, "ca")} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse("configmap", []byte(strings.ReplaceAll(cfgYAML, tlsDir, dir+"/")))
	if err != nil {
		t.Fatalf("example config does not validate: %v", err)
	}
	return cfg
}

// certManagerObject is the part of a cert-manager Issuer or Certificate
// (cert-manager.io/v1) the base uses; decoding is strict, so a field the
// test does not know is an error.
type certManagerObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		SelfSigned *struct{} `json:"selfSigned,omitempty"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca,omitempty"`
		IsCA        bool     `json:"isCA,omitempty"`
		CommonName  string   `json:"commonName,omitempty"`
		SecretName  string   `json:"secretName,omitempty"`
		Duration    string   `json:"duration,omitempty"`
		RenewBefore string   `json:"renewBefore,omitempty"`
		DNSNames    []string `json:"dnsNames,omitempty"`
		Usages      []string `json:"usages,omitempty"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		IssuerRef *struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Group string `json:"group"`
		} `json:"issuerRef,omitempty"`
	} `json:"spec"`
}

func loadCertManager(t *testing.T) (issuers, certs map[string]certManagerObject) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(base, "certificate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	issuers, certs = map[string]certManagerObject{}, map[string]certManagerObject{}
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var o certManagerObject
		if err := yaml.UnmarshalStrict([]byte(doc), &o); err != nil {
			t.Fatalf("certificate.yaml document %d: %v", i, err)
		}
		if o.APIVersion != "cert-manager.io/v1" {
			t.Errorf("%s %s: apiVersion %q", o.Kind, o.Metadata.Name, o.APIVersion)
		}
		switch o.Kind {
		case "Issuer":
			issuers[o.Metadata.Name] = o
		case "Certificate":
			certs[o.Metadata.Name] = o
		default:
			t.Errorf("certificate.yaml: unexpected kind %q", o.Kind)
		}
	}
	return issuers, certs
}

// TestKubernetesMTLS: the base serves mTLS only. The config has server TLS
// and a client CA (so callers are identified and the policy enforced), no
// insecure: true, and no listener off loopback without TLS; its TLS files
// are the cert-manager Certificate's Secret, mounted where the config
// looks; the Certificate chains to a CA issuer defined in the base.
func TestKubernetesMTLS(t *testing.T) {
	m := load(t)
	cfg := parseConfigMap(t, m.cm.Data["config.yaml"])
	if cfg.Insecure {
		t.Error("the base config sets insecure: true")
	}
	if !cfg.TLS.Enabled() || cfg.TLS.ClientCA == "" || !cfg.IdentitiesInUse() {
		t.Errorf("the base config does not require client certificates: tls %+v", cfg.TLS)
	}
	if len(cfg.Policy) == 0 {
		t.Error("the base config has no policy: every caller would be denied")
	}
	for name, addr := range map[string]string{"listen": cfg.Listen, "metrics.listen": cfg.Metrics.Listen} {
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && !cfg.TLS.Enabled() {
			t.Errorf("%s %s is off loopback without TLS", name, addr)
		}
	}
	raw := m.cm.Data["config.yaml"]
	for _, bad := range []string{"insecure:", "--dev"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the base config mentions %q", bad)
		}
	}
	c := m.deploy.Spec.Template.Spec.Containers[0]
	if slices.Contains(c.Args, "--dev") || slices.Contains(c.Args, "--reflection") {
		t.Errorf("container args %v: no --dev or --reflection in the base", c.Args)
	}

	issuers, certs := loadCertManager(t)
	// The Secret behind the TLS files is the server Certificate's.
	var secretVol *corev1.Volume
	for i, v := range m.deploy.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretVol = &m.deploy.Spec.Template.Spec.Volumes[i]
		}
	}
	if secretVol == nil {
		t.Fatal("the Deployment mounts no Secret for TLS")
	}
	var server *certManagerObject
	for _, ct := range certs {
		if ct.Spec.SecretName == secretVol.Secret.SecretName {
			server = &ct
		}
	}
	if server == nil {
		t.Fatalf("no Certificate writes the Secret %q the Deployment mounts", secretVol.Secret.SecretName)
	}
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if vm.Name == secretVol.Name {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly || mount.MountPath+"/" != tlsDir {
		t.Fatalf("TLS Secret mount %+v, want read-only at %s", mount, tlsDir)
	}
	items := map[string]bool{}
	for _, it := range secretVol.Secret.Items {
		items[it.Key] = it.Key == it.Path
	}
	for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if !items[key] {
			t.Errorf("TLS Secret volume does not project %s as %s", key, key)
		}
	}
	if m := secretVol.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
		t.Errorf("TLS Secret files are world-readable (defaultMode %v)", m)
	}
	// The server certificate names the Service and is for server auth.
	if !slices.Contains(server.Spec.Usages, "server auth") {
		t.Errorf("server Certificate usages %v lack server auth", server.Spec.Usages)
	}
	if !slices.Contains(server.Spec.DNSNames, m.svc.Name) {
		t.Errorf("server Certificate DNS names %v lack the Service %q", server.Spec.DNSNames, m.svc.Name)
	}
	// Issuer chain: server <- CA issuer (a CA Certificate's Secret) <- self-signed.
	ref := server.Spec.IssuerRef
	if ref == nil || ref.Kind != "Issuer" || ref.Group != "cert-manager.io" {
		t.Fatalf("server Certificate issuerRef %+v", ref)
	}
	caIssuer, ok := issuers[ref.Name]
	if !ok || caIssuer.Spec.CA == nil {
		t.Fatalf("server Certificate issuer %q is not a CA Issuer in the base", ref.Name)
	}
	var caCert *certManagerObject
	for _, ct := range certs {
		if ct.Spec.SecretName == caIssuer.Spec.CA.SecretName {
			caCert = &ct
		}
	}
	if caCert == nil || !caCert.Spec.IsCA || caCert.Spec.IssuerRef == nil || issuers[caCert.Spec.IssuerRef.Name].Spec.SelfSigned == nil {
		t.Errorf("CA Issuer %q is not backed by a self-signed CA Certificate in the base", ref.Name)
	}
}

// TestNetworkPolicyDoesNotTrustPodLabels: any pod can set its own labels,
// so no ingress peer may admit by pod label alone: each one combines a
// non-empty namespaceSelector with its podSelector (in one peer, so both
// must match), and none is empty, admits every namespace, or is an ipBlock.
func TestNetworkPolicyDoesNotTrustPodLabels(t *testing.T) {
	m := load(t)
	if len(m.np.Spec.Ingress) == 0 {
		t.Fatal("no ingress rules")
	}
	for i, r := range m.np.Spec.Ingress {
		if len(r.From) == 0 {
			t.Errorf("ingress[%d] admits every source", i)
		}
		if len(r.Ports) == 0 {
			t.Errorf("ingress[%d] admits every port", i)
		}
		for j, p := range r.From {
			if p.IPBlock != nil {
				t.Errorf("ingress[%d].from[%d] is an ipBlock", i, j)
			}
			ns := p.NamespaceSelector
			if ns == nil || (len(ns.MatchLabels) == 0 && len(ns.MatchExpressions) == 0) {
				t.Errorf("ingress[%d].from[%d] does not restrict namespaces: %+v", i, j, p)
			}
		}
	}
}
