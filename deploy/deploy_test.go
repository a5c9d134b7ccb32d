package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const base = "kubernetes/base"

// decodeStrict reads a manifest into out, failing on unknown or duplicate
// fields (a typo in a manifest is an error, as kubectl --validate=strict).
func decodeStrict(t *testing.T, file string, out any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(base, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, out); err != nil {
		t.Fatalf("%s: strict decode: %v", file, err)
	}
}

// manifests is the kustomize base, decoded.
type manifests struct {
	sa     corev1.ServiceAccount
	cm     corev1.ConfigMap
	deploy appsv1.Deployment
	svc    corev1.Service
	pdb    policyv1.PodDisruptionBudget
	np     networkingv1.NetworkPolicy
}

func load(t *testing.T) *manifests {
	t.Helper()
	var kust struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
		Labels     []struct {
			Pairs            map[string]string `json:"pairs"`
			IncludeSelectors bool              `json:"includeSelectors"`
		} `json:"labels"`
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	decodeStrict(t, "kustomization.yaml", &kust)
	m := &manifests{}
	byFile := map[string]any{
		"serviceaccount.yaml":      &m.sa,
		"configmap.yaml":           &m.cm,
		"deployment.yaml":          &m.deploy,
		"service.yaml":             &m.svc,
		"poddisruptionbudget.yaml": &m.pdb,
		"networkpolicy.yaml":       &m.np,
	}
	files, _ := filepath.Glob(filepath.Join(base, "*.yaml"))
	var onDisk []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	slices.Sort(onDisk)
	listed := slices.Sorted(slices.Values(kust.Resources))
	if diff := cmp.Diff(onDisk, listed); diff != "" {
		t.Errorf("kustomization resources vs files (-files +listed):\n%s", diff)
	}
	for f, out := range byFile {
		decodeStrict(t, f, out)
	}
	for _, c := range []struct {
		tm         metav1.TypeMeta
		apiVersion string
		kind       string
		file       string
	}{
		{m.sa.TypeMeta, "v1", "ServiceAccount", "serviceaccount.yaml"},
		{m.cm.TypeMeta, "v1", "ConfigMap", "configmap.yaml"},
		{m.deploy.TypeMeta, "apps/v1", "Deployment", "deployment.yaml"},
		{m.svc.TypeMeta, "v1", "Service", "service.yaml"},
		{m.pdb.TypeMeta, "policy/v1", "PodDisruptionBudget", "poddisruptionbudget.yaml"},
		{m.np.TypeMeta, "networking.k8s.io/v1", "NetworkPolicy", "networkpolicy.yaml"},
	} {
		if c.tm.APIVersion != c.apiVersion || c.tm.Kind != c.kind {
			t.Errorf("%s: %s/%s, want %s/%s", c.file, c.tm.APIVersion, c.tm.Kind, c.apiVersion, c.kind)
		}
	}
	if kust.Kind != "Kustomization" || len(kust.Images) != 1 || kust.Images[0].Name != m.deploy.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("kustomization images %+v do not rewrite the container image %q", kust.Images, m.deploy.Spec.Template.Spec.Containers[0].Image)
	}
	return m
}

func TestStrictDecodeRejectsTypos(t *testing.T) {
	var d appsv1.Deployment
	err := yaml.UnmarshalStrict([]byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n"), &d)
	if err == nil || !strings.Contains(err.Error(), "replica") {
		t.Fatalf("a misspelt field was accepted: %v", err)
	}
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("%s selector: %v", what, err)
	}
	if s.Empty() || !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s selector %v does not select the pods %v", what, s, podLabels)
	}
}

func TestKubernetesCrossReferences(t *testing.T) {
	m := load(t)
	pod := m.deploy.Spec.Template
	podLabels := pod.Labels
	selects(t, "deployment", m.deploy.Spec.Selector, podLabels)
	selects(t, "pdb", m.pdb.Spec.Selector, podLabels)
	selects(t, "networkpolicy", &m.np.Spec.PodSelector, podLabels)
	selects(t, "service", &metav1.LabelSelector{MatchLabels: m.svc.Spec.Selector}, podLabels)

	if pod.Spec.ServiceAccountName != m.sa.Name {
		t.Errorf("deployment uses service account %q, manifest defines %q", pod.Spec.ServiceAccountName, m.sa.Name)
	}
	if arn := m.sa.Annotations["eks.amazonaws.com/role-arn"]; !regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]+$`).MatchString(arn) {
		t.Errorf("service account role annotation %q is not an IAM role ARN", arn)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range m.svc.Spec.Ports {
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("service port %s targets %q, not a container port %v", p.Name, p.TargetPort.String(), ports)
		}
	}
	for _, r := range m.np.Spec.Ingress {
		for _, p := range r.Ports {
			if _, ok := ports[p.Port.String()]; !ok {
				t.Errorf("network policy allows port %q, not a container port", p.Port.String())
			}
		}
	}
	// Probes: TCP on the gRPC port (it requires a client certificate,
	// which kubelet's gRPC probes cannot present).
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil || p.TCPSocket == nil || p.GRPC != nil || (p.TCPSocket.Port.String() != "grpc" && p.TCPSocket.Port.IntValue() != int(ports["grpc"])) {
			t.Errorf("%s probe is not a TCP probe on the grpc port %d: %+v", name, ports["grpc"], p)
		}
	}
	// Hardening.
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container security context is not locked down: %+v", sc)
	}
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod does not run as non-root: %+v", psc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	// The image's USER is the pod's user.
	if user := dockerfileUser(t); psc != nil && psc.RunAsUser != nil && user != fmt.Sprint(*psc.RunAsUser) {
		t.Errorf("Dockerfile USER %s, pod runAsUser %d", user, *psc.RunAsUser)
	}

	// Config: the ConfigMap volume, key and mount line up with --config.
	var vol *corev1.Volume
	for i := range pod.Spec.Volumes {
		if cmv := pod.Spec.Volumes[i].ConfigMap; cmv != nil && cmv.Name == m.cm.Name {
			vol = &pod.Spec.Volumes[i]
		}
	}
	if vol == nil {
		t.Fatalf("no volume mounts ConfigMap %q", m.cm.Name)
	}
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == vol.Name {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || len(vol.ConfigMap.Items) != 1 {
		t.Fatalf("config volume %q is not mounted with one item", vol.Name)
	}
	item := vol.ConfigMap.Items[0]
	cfgYAML, ok := m.cm.Data[item.Key]
	if !ok {
		t.Fatalf("ConfigMap %q has no key %q", m.cm.Name, item.Key)
	}
	if i := slices.Index(c.Args, "--config"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != filepath.Join(mount.MountPath, item.Path) {
		t.Errorf("args %v do not point --config at %s", c.Args, filepath.Join(mount.MountPath, item.Path))
	}
	// The example config passes the broker's own validator, and its
	// listeners are the container's ports.
	cfg := parseConfigMap(t, cfgYAML)
	for name, addr := range map[string]string{"grpc": cfg.Listen, "metrics": cfg.Metrics.Listen} {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s listen %q: %v", name, addr, err)
		}
		if n, _ := strconv.Atoi(p); int32(n) != ports[name] {
			t.Errorf("config %s port %s, container port %q is %d", name, p, name, ports[name])
		}
	}
}

// dockerfileStage is one FROM ... [AS name] stage with its instructions.
type dockerfileStage struct {
	From, Name string
	Lines      []string
}

// parseDockerfile splits the Dockerfile into stages (comments dropped,
// backslash continuations joined, ARG defaults before FROM substituted).
func parseDockerfile(t *testing.T) []dockerfileStage {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	var stages []dockerfileStage
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		ins := cur.String()
		cur.Reset()
		f := strings.Fields(ins)
		switch strings.ToUpper(f[0]) {
		case "ARG":
			if k, v, ok := strings.Cut(f[1], "="); ok && len(stages) == 0 {
				args[k] = v
			}
		case "FROM":
			s := dockerfileStage{From: os.Expand(f[1], func(k string) string { return args[k] })}
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				s.Name = f[3]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].Lines = append(stages[len(stages)-1].Lines, ins)
		}
	}
	return stages
}

func dockerfileUser(t *testing.T) string {
	st := parseDockerfile(t)
	user := ""
	for _, l := range st[len(st)-1].Lines {
		if f := strings.Fields(l); strings.EqualFold(f[0], "USER") {
			user, _, _ = strings.Cut(f[1], ":")
		}
	}
	return user
}

func TestDockerfile(t *testing.T) {
	st := parseDockerfile(t)
	if len(st) != 2 {
		t.Fatalf("want 2 stages (build, runtime), got %d", len(st))
	}
	build, final := st[0], st[1]
	if !strings.Contains(build.From, "golang:") || build.Name == "" {
		t.Errorf("build stage: FROM %s AS %s", build.From, build.Name)
	}
	if final.From != "scratch" {
		t.Errorf("final stage FROM %s, want scratch (static binary, no base image)", final.From)
	}
	joined := strings.Join(build.Lines, "\n")
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/connbrokerd", "./cmd/connbroker"} {
		if !strings.Contains(joined, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	var copied []string
	var entry []string
	var expose []string
	for _, l := range final.Lines {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "COPY":
			if !strings.HasPrefix(f[1], "--from=") || strings.TrimPrefix(f[1], "--from=") != build.Name {
				t.Errorf("final stage copies from outside the build stage: %s", l)
			}
			copied = append(copied, f[2:len(f)-1]...)
			dst := f[len(f)-1]
			for _, src := range f[2 : len(f)-1] {
				if strings.HasSuffix(dst, "/") {
					copied = append(copied, dst+filepath.Base(src))
				} else {
					copied = append(copied, dst)
				}
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(strings.TrimSpace(l[len(f[0]):])), &entry); err != nil {
				t.Errorf("ENTRYPOINT is not exec form: %s", l)
			}
		case "EXPOSE":
			expose = f[1:]
		case "RUN":
			t.Errorf("final stage runs a command (scratch has no shell): %s", l)
		}
	}
	if !slices.Contains(copied, "/etc/ssl/certs/ca-certificates.crt") {
		t.Error("final stage lacks the CA bundle (AWS APIs are HTTPS)")
	}
	if len(entry) == 0 || !slices.Contains(copied, entry[0]) {
		t.Errorf("ENTRYPOINT %v is not a copied binary %v", entry, copied)
	}
	if u := dockerfileUser(t); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q, want a numeric non-root user", u)
	}
	m := load(t)
	var ports []string
	for _, p := range m.deploy.Spec.Template.Spec.Containers[0].Ports {
		ports = append(ports, fmt.Sprint(p.ContainerPort))
	}
	if diff := cmp.Diff(ports, expose); diff != "" {
		t.Errorf("EXPOSE vs container ports (-pod +image):\n%s", diff)
	}
}

func TestIAMPolicies(t *testing.T) {
	arn := regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:rds-db:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:dbuser:((db|cluster)-[A-Z0-9]{20,32}|prx-[0-9a-f]{17})/[A-Za-z0-9_$]+$`)
	for file, prefix := range map[string]string{
		"iam/rds-instance-policy.json":   "db-",
		"iam/aurora-cluster-policy.json": "cluster-",
		"iam/rds-proxy-policy.json":      "prx-",
	} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Version   string
				Statement []struct {
					Sid      string
					Effect   string
					Action   string
					Resource string
				}
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&p); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if p.Version != "2012-10-17" || len(p.Statement) == 0 {
				t.Fatalf("policy %+v", p)
			}
			for _, s := range p.Statement {
				if s.Effect != "Allow" || s.Action != "rds-db:connect" {
					t.Errorf("statement %s: %s %s, want Allow rds-db:connect", s.Sid, s.Effect, s.Action)
				}
				if !arn.MatchString(s.Resource) {
					t.Errorf("resource %q is not an rds-db dbuser ARN", s.Resource)
				}
				if _, rest, _ := strings.Cut(s.Resource, ":dbuser:"); !strings.HasPrefix(rest, prefix) {
					t.Errorf("resource %q: want a %s resource id", s.Resource, prefix)
				}
			}
		})
	}
}

func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: run `make deps` (or apt-get install systemd)")
	}
	unit, err := os.ReadFile("systemd/connbrokerd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/connbrokerd --config /etc/connbroker/config.yaml", "ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "DynamicUser=yes", "CapabilityBoundingSet=\n"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// systemd-analyze checks that the binaries exist: point it at a stub.
	dir := t.TempDir()
	stub := filepath.Join(dir, "connbrokerd")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "connbrokerd.service")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(unit, []byte("/usr/local/bin/connbrokerd"), []byte(stub)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", tmp).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDockerfileCopiesReplacedModules: the root go.mod replaces the API
// stubs and the Go client with local directories, so `go mod download` in
// the build stage needs their go.mod and go.sum copied before it runs.
func TestDockerfileCopiesReplacedModules(t *testing.T) {
	out, err := exec.Command("go", "mod", "edit", "-json", "../go.mod").Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var mod struct {
		Replace []struct{ New struct{ Path string } }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	var local []string
	for _, r := range mod.Replace {
		if strings.HasPrefix(r.New.Path, "./") {
			local = append(local, strings.TrimPrefix(r.New.Path, "./"))
		}
	}
	if len(local) == 0 {
		t.Fatal("go.mod replaces no module with a local directory (proto, clients/go)")
	}
	var copied []string
	download := false
	for _, l := range parseDockerfile(t)[0].Lines {
		f := strings.Fields(l)
		switch {
		case strings.EqualFold(f[0], "COPY") && !download:
			copied = append(copied, f[1:len(f)-1]...)
		case strings.EqualFold(f[0], "RUN") && strings.Contains(l, "go mod download"):
			download = true
		}
	}
	if !download {
		t.Fatal("build stage has no RUN go mod download")
	}
	for _, dir := range local {
		for _, file := range []string{"go.mod", "go.sum"} {
			if !slices.Contains(copied, dir+"/"+file) {
				t.Errorf("build stage does not copy %s/%s before go mod download (copied: %v)", dir, file, copied)
			}
		}
	}
}
