package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/connbroker/connbroker/broker/caller"
	"github.com/connbroker/connbroker/broker/policy"
)

const sidecar = "kubernetes/examples/render-sidecar"

// TestRenderSidecarExample checks that the render sidecar example lines
// up: its files are the kustomization's resources; render runs once as an
// init container and then as a native sidecar with --watch; the template,
// the emptyDir, the client certificate and the app's option file are the
// paths the flags name; the broker address is the base Service; the
// certificate's identity is allowed the endpoint by the base policy; every
// container runs as the pod's one user (the file is 0600).
func TestRenderSidecarExample(t *testing.T) {
	read := func(file string, out any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(sidecar, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, out); err != nil {
			t.Fatalf("%s: strict decode: %v", file, err)
		}
	}
	var kust struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	read("kustomization.yaml", &kust)
	files, _ := filepath.Glob(filepath.Join(sidecar, "*.yaml"))
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	if !slices.Equal(onDisk, slices.Sorted(slices.Values(kust.Resources))) {
		t.Errorf("kustomization resources %v, files %v", kust.Resources, onDisk)
	}
	var sa corev1.ServiceAccount
	var cm corev1.ConfigMap
	var d appsv1.Deployment
	var cert struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			SecretName  string            `json:"secretName"`
			Duration    string            `json:"duration"`
			RenewBefore string            `json:"renewBefore"`
			URIs        []string          `json:"uris"`
			Usages      []string          `json:"usages"`
			PrivateKey  map[string]any    `json:"privateKey"`
			IssuerRef   map[string]string `json:"issuerRef"`
		} `json:"spec"`
	}
	read("serviceaccount.yaml", &sa)
	read("configmap.yaml", &cm)
	read("deployment.yaml", &d)
	read("certificate.yaml", &cert)
	pod := d.Spec.Template.Spec
	selects(t, "deployment", d.Spec.Selector, d.Spec.Template.Labels)
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("service account %q, manifest %q", pod.ServiceAccountName, sa.Name)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mountOf := func(c corev1.Container, vol string) string {
		for _, m := range c.VolumeMounts {
			if m.Name == vol {
				return m.MountPath
			}
		}
		return ""
	}
	volFor := func(pred func(corev1.Volume) bool) string {
		for _, v := range pod.Volumes {
			if pred(v) {
				return v.Name
			}
		}
		t.Fatalf("no such volume")
		return ""
	}
	db := volFor(func(v corev1.Volume) bool { return v.EmptyDir != nil })
	if vols[db].EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("the emptyDir holding the secret is not in memory")
	}
	tmplVol := volFor(func(v corev1.Volume) bool { return v.ConfigMap != nil && v.ConfigMap.Name == cm.Name })
	certVol := volFor(func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == cert.Spec.SecretName })

	if len(pod.InitContainers) != 2 || len(pod.Containers) != 1 {
		t.Fatalf("want 2 init containers (render once, render sidecar) and 1 app container")
	}
	once, watch, app := pod.InitContainers[0], pod.InitContainers[1], pod.Containers[0]
	if once.RestartPolicy != nil || watch.RestartPolicy == nil || *watch.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("render-once must be a plain init container and render a native sidecar (restartPolicy Always)")
	}
	base := load(t)
	cfg := parseConfigMap(t, base.cm.Data["config.yaml"])
	var out string
	for _, c := range []corev1.Container{once, watch} {
		if c.Image != kust.Images[0].Name || len(c.Command) != 1 || c.Command[0] != "/usr/local/bin/connbroker" {
			t.Errorf("%s: image %q command %v", c.Name, c.Image, c.Command)
		}
		flags := map[string]string{}
		var pos []string
		for _, a := range c.Args {
			if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
				flags[k] = v
			} else {
				pos = append(pos, a)
			}
		}
		wantPos := []string{"render", "reports"}
		if c.Name == watch.Name {
			wantPos = append(wantPos, "--watch")
		}
		if !slices.Equal(pos, wantPos) {
			t.Errorf("%s: arguments %v, want %v and flags", c.Name, pos, wantPos)
		}
		if cfg.Endpoints[pos[1]] == nil {
			t.Errorf("%s: endpoint %q is not in the base config", c.Name, pos[1])
		}
		svcAddr := base.svc.Name + ".connbroker.svc:7700"
		if flags["--broker"] != svcAddr || base.svc.Spec.Ports[0].Port != 7700 {
			t.Errorf("%s: --broker %q, want the base Service %s", c.Name, flags["--broker"], svcAddr)
		}
		certDir := mountOf(c, certVol)
		for flag, key := range map[string]string{"--ca": "ca.crt", "--cert": "tls.crt", "--key": "tls.key"} {
			if flags[flag] != filepath.Join(certDir, key) || certDir == "" {
				t.Errorf("%s: %s %q, want %s in the certificate's Secret", c.Name, flag, flags[flag], filepath.Join(certDir, key))
			}
		}
		tmplDir := mountOf(c, tmplVol)
		if _, ok := cm.Data[strings.TrimPrefix(flags["--template"], tmplDir+"/")]; !ok || tmplDir == "" {
			t.Errorf("%s: --template %q is no key of ConfigMap %s mounted at %s", c.Name, flags["--template"], cm.Name, tmplDir)
		}
		if dir := mountOf(c, db); dir == "" || filepath.Dir(flags["--out"]) != dir {
			t.Errorf("%s: --out %q is not in the emptyDir (mounted at %q)", c.Name, flags["--out"], dir)
		}
		if out != "" && flags["--out"] != out {
			t.Errorf("the two render containers write different files")
		}
		out = flags["--out"]
		if sc := c.SecurityContext; sc == nil || sc.RunAsUser != nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: security context %+v (must not override the pod's user)", c.Name, sc)
		}
	}
	if mountOf(app, db) != filepath.Dir(out) || !strings.Contains(strings.Join(app.Args, " "), "--defaults-extra-file="+out) {
		t.Errorf("the app does not read %s from the shared emptyDir", out)
	}
	if sc := app.SecurityContext; sc == nil || sc.RunAsUser != nil {
		t.Errorf("app: must run as the pod's user, which owns the 0600 file")
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod security context %+v", psc)
	}
	// The client certificate's identity may get the endpoint.
	if len(cert.Spec.URIs) != 1 || !(policy.Policy{Rules: cfg.Policy}).Allows(caller.Identity{Name: cert.Spec.URIs[0], Kind: caller.KindURI}, "reports", cfg.Endpoints["reports"].User) {
		t.Errorf("certificate URIs %v are not allowed the endpoint reports by the base policy", cert.Spec.URIs)
	}
	if !strings.HasSuffix(cert.Spec.URIs[0], "/ns/"+kust.Namespace+"/sa/"+sa.Name) {
		t.Errorf("certificate URI %s is not the service account %s/%s", cert.Spec.URIs[0], kust.Namespace, sa.Name)
	}
	// The template parses (cmd/connbroker's TestRenderSidecarTemplate
	// executes it with the real renderer).
	for key, text := range cm.Data {
		stub := template.FuncMap{"mycnf": func(...string) string { return "" }, "dsn": func(string) string { return "" }, "json": func(any) string { return "" }, "cafile": func() string { return "" }}
		if _, err := template.New(key).Funcs(stub).Parse(text); err != nil {
			t.Errorf("template %s: %v", key, err)
		}
	}
}
