//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubelet-lite/kubelet-lite/test/e2e/cluster"
)

// TestClusterVolumes: on a node of a real control plane, the API-backed
// volumes (configMap, secret, downwardAPI, projected, the automounted
// service-account token) and emptyDirs hold what they should inside the pod,
// ConfigMap and Secret updates reach running pods, and container env from
// every source (service links included) is what upstream gives. One control
// plane and agent serve every case; each case has its own namespace.
func TestClusterVolumes(t *testing.T) {
	// Each cluster test has its own control plane and agent, and waits
	// mostly on backoffs and probes: they run side by side.
	t.Parallel()
	a, c, client := clusterAgent(t)
	alloc := volWaitNodeReady(t, client, a.node)
	t.Run("env-missing-key", func(t *testing.T) { t.Parallel(); volEnvMissing(t, client) })
	t.Run("missing-volume-source", func(t *testing.T) { t.Parallel(); volMissingSource(t, client) })
	t.Run("files", func(t *testing.T) { t.Parallel(); volFiles(t, client, alloc) })
	t.Run("service-account", func(t *testing.T) { t.Parallel(); volServiceAccount(t, c, client) })
	t.Run("env", func(t *testing.T) { t.Parallel(); volEnv(t, client, a.node) })
	t.Run("service-links", func(t *testing.T) { t.Parallel(); volServiceLinks(t, client) })
	t.Run("empty-dir", func(t *testing.T) { t.Parallel(); volEmptyDir(t, client, alloc) })
	t.Run("updates", func(t *testing.T) { t.Parallel(); volUpdates(t, client) })
}

// volFiles: configMap (items, defaultMode, per-item mode), secret (on a
// tmpfs), downwardAPI, projected (all four sources), subPath and a readOnly
// mount, checked by the container itself.
func volFiles(t *testing.T, client kubernetes.Interface, alloc corev1.ResourceList) {
	ns := volNamespace(t, client, "vol-files")
	volCreate(t, client, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Data:       map[string]string{"greeting": "hello", "other": "not-listed", "app.conf": "port=8080"},
	})
	volCreate(t, client, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
		Data:       map[string][]byte{"password": []byte("s3cret")},
	})
	script := strings.Join([]string{
		`echo "cm-ls=$(ls /cm | tr '\n' ,)"`,
		`echo "cm-greeting=$(cat /cm/greet/renamed)"`,
		`echo "cm-greeting-mode=$(stat -L -c %a /cm/greet/renamed)"`,
		`echo "cm-conf-mode=$(stat -L -c %a /cm/app.conf)"`,
		`echo "cm-fs=$(grep ' /cm ' /proc/mounts | cut -d' ' -f3)"`,
		`echo "secret=$(cat /secret/password)"`,
		`echo "secret-fs=$(grep ' /secret ' /proc/mounts | cut -d' ' -f3)"`,
		`echo "secret-size=$(grep ' /secret ' /proc/mounts | grep -o 'size=[0-9]*k')"`,
		`echo "dw-labels=$(cat /info/labels | tr '\n' ,)"`,
		`echo "dw-annotations=$(grep vol/ /info/annotations | tr '\n' ,)"`,
		`echo "dw-name=$(cat /info/name)"`,
		`echo "dw-mem=$(cat /info/mem)"`,
		`echo "dw-cpu=$(cat /info/cpu)"`,
		`echo "proj-cm=$(cat /proj/cm-greeting)"`,
		`echo "proj-secret=$(cat /proj/secret-password)"`,
		`echo "proj-ns=$(cat /proj/namespace)"`,
		`echo "proj-fs=$(grep ' /proj ' /proc/mounts | cut -d' ' -f3)"`,
		`echo "proj-token=$(cat /proj/token)"`,
		`echo "subpath=$(cat /etc/app.conf)"`,
		`echo "subpath-type=$(stat -c %F /etc/app.conf)"`,
		`touch /ro/x 2>/dev/null && echo ro-write=ok || echo ro-write=denied`,
		`touch /rw/x 2>/dev/null && echo rw-write=ok || echo rw-write=denied`,
		`touch /cm/x 2>/dev/null && echo cm-write=ok || echo cm-write=denied`,
	}, "\n")
	pod := volBasePod(ns, "files", script)
	pod.Labels = map[string]string{"app": "files", "tier": "test"}
	pod.Annotations = map[string]string{"vol/note": "annotated"}
	ctr := &pod.Spec.Containers[0]
	ctr.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "app"}, DefaultMode: ptr.To[int32](0o640),
			Items: []corev1.KeyToPath{
				{Key: "greeting", Path: "greet/renamed", Mode: ptr.To[int32](0o400)},
				{Key: "app.conf", Path: "app.conf"},
			},
		}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			// No cpu limit: the node's allocatable cpu, in whole cores rounded up.
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.cpu"}},
		}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "app"},
				Items: []corev1.KeyToPath{{Key: "greeting", Path: "cm-greeting"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"},
				Items: []corev1.KeyToPath{{Key: "password", Path: "secret-password"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vol-audience", ExpirationSeconds: ptr.To[int64](3600), Path: "token"}},
		}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	ctr.VolumeMounts = []corev1.VolumeMount{
		{Name: "cm", MountPath: "/cm"},
		{Name: "secret", MountPath: "/secret"},
		{Name: "info", MountPath: "/info"},
		{Name: "proj", MountPath: "/proj"},
		{Name: "cm", MountPath: "/etc/app.conf", SubPath: "app.conf"},
		{Name: "scratch", MountPath: "/ro", ReadOnly: true},
		{Name: "scratch", MountPath: "/rw"},
	}
	start := time.Now()
	out := volRunToEnd(t, client, pod)
	t.Logf("files pod ran to completion in %s", time.Since(start).Round(time.Millisecond))
	got := volValues(out)
	want := map[string]string{
		"cm-ls":            "app.conf,greet,",
		"cm-greeting":      "hello",
		"cm-greeting-mode": "400",
		"cm-conf-mode":     "640",
		"secret":           "s3cret",
		"secret-fs":        "tmpfs",
		"secret-size":      "size=65536k", // the pod's memory limit
		"dw-cpu":           fmt.Sprint((alloc.Cpu().MilliValue() + 999) / 1000),
		"dw-labels":        `app="files",tier="test"`,
		"dw-annotations":   `vol/note="annotated",`,
		"dw-name":          "files",
		"dw-mem":           "64",
		"proj-cm":          "hello",
		"proj-secret":      "s3cret",
		"proj-ns":          ns,
		"proj-fs":          "tmpfs",
		"subpath":          "port=8080",
		"subpath-type":     "regular file",
		"ro-write":         "denied",
		"rw-write":         "ok",
		"cm-write":         "denied",
	}
	volCompare(t, got, want, out)
	if fs := got["cm-fs"]; fs == "" || fs == "tmpfs" {
		t.Errorf("configMap volume is on %q, want a mount of the node's disk (upstream keeps configMaps off tmpfs)", fs)
	}
	claims := volJWTClaims(t, got["proj-token"])
	if !slices.Equal(claims.Aud, []string{"vol-audience"}) {
		t.Errorf("projected token aud = %v, want [vol-audience]", claims.Aud)
	}
	if life := claims.Exp - claims.Iat; life != 3600 {
		t.Errorf("projected token lifetime exp-iat = %ds, want 3600 (expirationSeconds)", life)
	}
	if exp := time.Unix(claims.Exp, 0); exp.Before(start.Add(50*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
		t.Errorf("projected token exp = %s, want about an hour after the pod started (%s)", exp, start)
	}
	if claims.Sub != "system:serviceaccount:"+ns+":default" || claims.Kubernetes.Pod.Name != "files" {
		t.Errorf("projected token sub = %q, pod %q; want the default service account, bound to pod files", claims.Sub, claims.Kubernetes.Pod.Name)
	}
}

// volServiceAccount: the automounted token, ca.crt and namespace are there,
// and the token authenticates to the apiserver as the pod's service account.
func volServiceAccount(t *testing.T, c *cluster.Cluster, client kubernetes.Interface) {
	ctx := context.Background()
	ns := volNamespace(t, client, "vol-sa")
	const dir = "/var/run/secrets/kubernetes.io/serviceaccount"
	pod := volBasePod(ns, "sa", strings.Join([]string{
		`echo "files=$(ls ` + dir + ` | tr '\n' ,)"`,
		`echo "token=$(cat ` + dir + `/token)"`,
		`echo "namespace=$(cat ` + dir + `/namespace)"`,
		`echo "ca=$(base64 ` + dir + `/ca.crt | tr -d '\n')"`,
	}, "\n"))
	out := volRunToEnd(t, client, pod)
	got := volValues(out)
	volCompare(t, got, map[string]string{"files": "ca.crt,namespace,token,", "namespace": ns}, out)
	ca, err := base64.StdEncoding.DecodeString(got["ca"])
	if err != nil {
		t.Fatalf("ca.crt from the pod: %v", err)
	}
	want, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(ca), bytes.TrimSpace(want)) {
		t.Errorf("ca.crt in the pod is not the cluster CA:\n%s", ca)
	}
	sa, err := kubernetes.NewForConfig(&rest.Config{
		Host: c.APIServerURL, BearerToken: got["token"], TLSClientConfig: rest.TLSClientConfig{CAFile: c.CAFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	review, err := sa.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with the pod's token: %v", err)
	}
	if u := review.Status.UserInfo.Username; u != "system:serviceaccount:"+ns+":default" {
		t.Errorf("the pod's token authenticates as %q, want system:serviceaccount:%s:default", u, ns)
	}
	if claims := volJWTClaims(t, got["token"]); claims.Kubernetes.Pod.Name != "sa" {
		t.Errorf("automounted token is bound to pod %q, want sa", claims.Kubernetes.Pod.Name)
	}

	// A pod of one non-root user reads its token, which is that user's and
	// unreadable to others (upstream's fsUser), with the fsGroup's read.
	nonRoot := volBasePod(ns, "sa-non-root", strings.Join([]string{
		`echo "id=$(id -u):$(id -g)"`,
		`echo "token-stat=$(stat -L -c '%a %u %g' ` + dir + `/token)"`,
		`echo "ca-stat=$(stat -L -c '%a %g' ` + dir + `/ca.crt)"`,
		`echo "token=$(cat ` + dir + `/token)"`,
	}, "\n"))
	nonRoot.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](3000), FSGroup: ptr.To[int64](2000)}
	out = volRunToEnd(t, client, nonRoot)
	got = volValues(out)
	volCompare(t, got, map[string]string{"id": "1000:3000", "token-stat": "640 1000 2000", "ca-stat": "644 2000"}, out)
	if claims := volJWTClaims(t, got["token"]); claims.Kubernetes.Pod.Name != "sa-non-root" {
		t.Errorf("non-root pod's token is bound to pod %q, want sa-non-root", claims.Kubernetes.Pod.Name)
	}
}

// volEnv: env from every source, envFrom with prefixes, optional references
// that are missing.
func volEnv(t *testing.T, client kubernetes.Interface, node string) {
	ns := volNamespace(t, client, "vol-env")
	volCreate(t, client, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns},
		Data:       map[string]string{"mode": "fast", "level": "3", "dashed-key": "kept"},
	})
	volCreate(t, client, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: ns},
		Data:       map[string][]byte{"token": []byte("abc"), "user": []byte("admin")},
	})
	pod := volBasePod(ns, "env", "")
	// env itself prints every variable; a shell would drop names it cannot use.
	pod.Spec.Containers[0].Command = []string{"env"}
	// On the host's network the pod's IP is the node's, which the test knows.
	pod.Spec.HostNetwork = true
	ctr := &pod.Spec.Containers[0]
	ctr.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	cmKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	secretKey := func(name, key string, optional bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
	}
	ctr.EnvFrom = []corev1.EnvFromSource{
		{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
		{Prefix: "SEC_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "keys"}}},
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}},
	}
	ctr.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "value"},
		{Name: "POD_NAME", ValueFrom: field("metadata.name")},
		{Name: "POD_NAMESPACE", ValueFrom: field("metadata.namespace")},
		{Name: "POD_IP", ValueFrom: field("status.podIP")},
		{Name: "HOST_IP", ValueFrom: field("status.hostIP")},
		{Name: "NODE_NAME", ValueFrom: field("spec.nodeName")},
		{Name: "SA_NAME", ValueFrom: field("spec.serviceAccountName")},
		{Name: "CPU_MILLIS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "MEM_MIB", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "CM_VALUE", ValueFrom: cmKey("settings", "mode", false)},
		{Name: "SECRET_VALUE", ValueFrom: secretKey("keys", "token", false)},
		{Name: "OPT_MISSING_KEY", ValueFrom: cmKey("settings", "nope", true)},
		{Name: "OPT_MISSING_CM", ValueFrom: cmKey("absent", "mode", true)},
		{Name: "OPT_MISSING_SECRET", ValueFrom: secretKey("absent", "token", true)},
		{Name: "OPT_MISSING_SECRET_KEY", ValueFrom: secretKey("keys", "nope", true)},
		{Name: "EXPANDED", Value: "$(POD_NAME)-in-$(POD_NAMESPACE)"},
	}
	out := volRunToEnd(t, client, pod)
	got := volValues(out)
	want := map[string]string{
		"PLAIN": "value", "POD_NAME": "env", "POD_NAMESPACE": ns, "POD_IP": "127.0.0.1", "HOST_IP": "127.0.0.1",
		"NODE_NAME": node, "SA_NAME": "default", "CPU_MILLIS": "250", "MEM_MIB": "64",
		"CM_VALUE": "fast", "SECRET_VALUE": "abc", "EXPANDED": "env-in-" + ns,
		"CM_mode": "fast", "CM_level": "3", "CM_dashed-key": "kept", "SEC_token": "abc", "SEC_user": "admin",
	}
	volCompare(t, got, want, out)
	for _, absent := range []string{"OPT_MISSING_KEY", "OPT_MISSING_CM", "OPT_MISSING_SECRET", "OPT_MISSING_SECRET_KEY"} {
		if v, ok := got[absent]; ok {
			t.Errorf("%s=%q is set, want it absent", absent, v)
		}
	}
}

// volEnvMissing: a required key that is missing keeps the container from
// starting with CreateContainerConfigError; once the ConfigMap exists it runs.
func volEnvMissing(t *testing.T, client kubernetes.Interface) {
	ctx := context.Background()
	ns := volNamespace(t, client, "vol-env-missing")
	pod := volBasePod(ns, "late", `echo "LATE=$LATE"`)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LATE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "late"}, Key: "value", Optional: ptr.To(false)}}}}
	volCreate(t, client, pod)
	eventually(t, 90*time.Second, "container waiting with CreateContainerConfigError", func() (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, "late", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return false, fmt.Sprintf("%+v", p.Status)
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w.Reason == "CreateContainerConfigError" && p.Status.Phase == corev1.PodPending,
			fmt.Sprintf("phase %s, waiting %s: %s", p.Status.Phase, w.Reason, w.Message)
	})
	volCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns}, Data: map[string]string{"value": "here"}})
	start := time.Now()
	volWaitPhase(t, client, ns, "late", corev1.PodSucceeded, 120*time.Second)
	t.Logf("started %s after its ConfigMap was created", time.Since(start).Round(time.Millisecond))
	out := volLogs(t, client, ns, "late")
	volCompare(t, volValues(out), map[string]string{"LATE": "here"}, out)
}

// volMissingSource: a pod whose ConfigMap volume's source does not exist
// waits in ContainerCreating with a FailedMount event and runs once it
// exists; a missing optional Secret gives an empty volume (but for the
// writer's hidden ..data entries, as upstream).
func volMissingSource(t *testing.T, client kubernetes.Interface) {
	ctx := context.Background()
	ns := volNamespace(t, client, "vol-missing-source")
	pod := volBasePod(ns, "waits", `echo "cm=$(cat /cm/k)"; echo "optional=$(ls /opt | wc -l)"`)
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "later"}}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "never", Optional: ptr.To(true)}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cm", MountPath: "/cm"}, {Name: "opt", MountPath: "/opt"}}
	volCreate(t, client, pod)
	eventually(t, 60*time.Second, "a FailedMount event naming the ConfigMap", func() (bool, string) {
		evs, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=waits,reason=FailedMount"})
		if err != nil || len(evs.Items) == 0 {
			return false, fmt.Sprint(err)
		}
		return strings.Contains(evs.Items[0].Message, `"later"`), evs.Items[0].Message
	})
	p, err := client.CoreV1().Pods(ns).Get(ctx, "waits", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Before any status is sent the container has none; once one is, it
	// waits in ContainerCreating.
	cs := p.Status.ContainerStatuses
	if p.Status.Phase != corev1.PodPending || (len(cs) > 0 && (cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "ContainerCreating")) {
		t.Errorf("status while the ConfigMap is missing = %+v, want Pending with the container (if shown) waiting in ContainerCreating", p.Status)
	}
	volCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later", Namespace: ns}, Data: map[string]string{"k": "arrived"}})
	start := time.Now()
	volWaitPhase(t, client, ns, "waits", corev1.PodSucceeded, 120*time.Second)
	t.Logf("started %s after its volume's ConfigMap was created", time.Since(start).Round(time.Millisecond))
	out := volLogs(t, client, ns, "waits")
	volCompare(t, volValues(out), map[string]string{"cm": "arrived", "optional": "0"}, out)
}

// volServiceLinks: Docker-link variables for the Services of the pod's
// namespace, and the kubernetes Service's always; none of the namespace's
// with enableServiceLinks false.
func volServiceLinks(t *testing.T, client kubernetes.Interface) {
	ctx := context.Background()
	ns := volNamespace(t, client, "vol-links")
	svc := volCreate(t, client, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "my-svc", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		}},
	})
	volCreate(t, client, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{{Port: 80}}},
	})
	kube, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP
	links := volBasePod(ns, "links", "exec env")
	noLinks := volBasePod(ns, "no-links", "exec env")
	noLinks.Spec.EnableServiceLinks = ptr.To(false)
	volCreate(t, client, links)
	volCreate(t, client, noLinks)
	volWaitPhase(t, client, ns, "links", corev1.PodSucceeded, 90*time.Second)
	volWaitPhase(t, client, ns, "no-links", corev1.PodSucceeded, 90*time.Second)

	kubeVars := map[string]string{
		"KUBERNETES_SERVICE_HOST": kube.Spec.ClusterIP, "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://" + kube.Spec.ClusterIP + ":443",
		"KUBERNETES_PORT_443_TCP":       "tcp://" + kube.Spec.ClusterIP + ":443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": kube.Spec.ClusterIP,
	}
	want := map[string]string{
		"MY_SVC_SERVICE_HOST": ip, "MY_SVC_SERVICE_PORT": "80", "MY_SVC_SERVICE_PORT_HTTP": "80", "MY_SVC_SERVICE_PORT_DNS": "53",
		"MY_SVC_PORT":        "tcp://" + ip + ":80",
		"MY_SVC_PORT_80_TCP": "tcp://" + ip + ":80", "MY_SVC_PORT_80_TCP_PROTO": "tcp", "MY_SVC_PORT_80_TCP_PORT": "80", "MY_SVC_PORT_80_TCP_ADDR": ip,
		"MY_SVC_PORT_53_UDP": "udp://" + ip + ":53", "MY_SVC_PORT_53_UDP_PROTO": "udp", "MY_SVC_PORT_53_UDP_PORT": "53", "MY_SVC_PORT_53_UDP_ADDR": ip,
	}
	for k, v := range kubeVars {
		want[k] = v
	}
	out := volLogs(t, client, ns, "links")
	got := volValues(out)
	volCompare(t, got, want, out)
	for k, v := range got {
		if strings.HasPrefix(k, "HEADLESS_") {
			t.Errorf("%s=%s is set for a headless Service, want none", k, v)
		}
	}
	out = volLogs(t, client, ns, "no-links")
	got = volValues(out)
	volCompare(t, got, kubeVars, out)
	for k, v := range got {
		if strings.HasPrefix(k, "MY_SVC_") {
			t.Errorf("%s=%s is set with enableServiceLinks false, want only the kubernetes Service's", k, v)
		}
	}
}

// volEmptyDir: one container writes an emptyDir the other reads; a Memory
// emptyDir is a tmpfs of its sizeLimit.
func volEmptyDir(t *testing.T, client kubernetes.Interface, alloc corev1.ResourceList) {
	ns := volNamespace(t, client, "vol-emptydir")
	pod := volBasePod(ns, "shared", `echo from-writer > /shared/note.tmp && mv /shared/note.tmp /shared/note`)
	pod.Spec.Containers[0].Name = "writer"
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: "reader", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"sh", "-c", strings.Join([]string{
			`until [ -f /data/note ]; do sleep 0.2; done`,
			`echo "note=$(cat /data/note)"`,
			`echo "mem=$(grep ' /mem ' /proc/mounts | cut -d' ' -f3,4)"`,
			`echo "mem-default=$(grep ' /mem-default ' /proc/mounts | cut -d' ' -f3,4)"`,
		}, "\n")},
	})
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("8Mi"))}}},
		{Name: "mem-default", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	pod.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/data", ReadOnly: true}, {Name: "mem", MountPath: "/mem"}, {Name: "mem-default", MountPath: "/mem-default"}}
	volCreate(t, client, pod)
	volWaitPhase(t, client, ns, "shared", corev1.PodSucceeded, 90*time.Second)
	out := volLogsOf(t, client, ns, "shared", "reader")
	got := volValues(out)
	volCompare(t, got, map[string]string{"note": "from-writer"}, out)
	volWantTmpfs(t, "Memory emptyDir with sizeLimit 8Mi", got["mem"], 8<<20)
	// Without a sizeLimit or pod memory limit it is the node's allocatable memory.
	volWantTmpfs(t, "Memory emptyDir without sizeLimit", got["mem-default"], alloc.Memory().Value())
}

// volUpdates: a ConfigMap and a Secret changed in the apiserver change the
// files of a running pod (not its subPath, which upstream pins); a changed
// label changes the downward API file.
func volUpdates(t *testing.T, client kubernetes.Interface) {
	ctx := context.Background()
	ns := volNamespace(t, client, "vol-updates")
	volCreate(t, client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: ns}, Data: map[string]string{"v": "one"}})
	volCreate(t, client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: ns}, Data: map[string][]byte{"v": []byte("one")}})
	pod := volBasePod(ns, "watcher", `while true; do echo "cm=$(cat /cm/v) secret=$(cat /secret/v) proj=$(cat /proj/v) pinned=$(cat /pinned) label=$(cat /info/labels | grep stage)"; sleep 1; done`)
	pod.Labels = map[string]string{"stage": "first"}
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "live"}}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "live"}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "live"}}}}}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "cm", MountPath: "/cm"}, {Name: "secret", MountPath: "/secret"}, {Name: "proj", MountPath: "/proj"},
		{Name: "info", MountPath: "/info"}, {Name: "cm", MountPath: "/pinned", SubPath: "v"},
	}
	volCreate(t, client, pod)
	first := `cm=one secret=one proj=one pinned=one label=stage="first"`
	volWaitLog(t, client, ns, "watcher", first, 90*time.Second)

	start := time.Now()
	if _, err := client.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: ns}, Data: map[string]string{"v": "two"}}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Secrets(ns).Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: ns}, Data: map[string][]byte{"v": []byte("two")}}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	volWaitLog(t, client, ns, "watcher", `cm=two secret=two proj=two pinned=one label=stage="first"`, 120*time.Second)
	t.Logf("ConfigMap and Secret update reached the running pod in %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	patch := []byte(`{"metadata":{"labels":{"stage":"second"}}}`)
	if _, err := client.CoreV1().Pods(ns).Patch(ctx, "watcher", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	volWaitLog(t, client, ns, "watcher", `cm=two secret=two proj=two pinned=one label=stage="second"`, 90*time.Second)
	t.Logf("label change reached the downward API file in %s", time.Since(start).Round(time.Millisecond))
	p, err := client.CoreV1().Pods(ns).Get(ctx, "watcher", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 0 {
		t.Errorf("container statuses = %+v, want one container never restarted", cs)
	}
}

// volWantTmpfs checks a "fstype options" line of /proc/mounts for a tmpfs
// of size bytes (which the kernel rounds up to pages and shows in KiB).
func volWantTmpfs(t *testing.T, what, mount string, size int64) {
	t.Helper()
	page := int64(os.Getpagesize())
	want := fmt.Sprintf("size=%dk", (size+page-1)/page*page/1024)
	fs, opts, _ := strings.Cut(mount, " ")
	if fs != "tmpfs" || !slices.Contains(strings.Split(opts, ","), want) {
		t.Errorf("%s mount = %q, want a tmpfs with %s", what, mount, want)
	}
}

// volBasePod is a pod in ns running script once with sh in busybox.
func volBasePod(ns, name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "main", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", script},
			}},
		},
	}
}

// volNamespace creates a namespace and waits for its default service
// account, without which the apiserver admits no pod; the namespace is
// deleted at the end, its pods first.
func volNamespace(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { volDeletePods(t, client, name) })
	eventually(t, 60*time.Second, "service account default in "+name, func() (bool, string) {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return name
}

// volDeletePods deletes the pods of ns and waits until they are gone, so
// that the agent's cleanup at the end of the test finds no pod.
func volDeletePods(t *testing.T, client kubernetes.Interface, ns string) {
	ctx := context.Background()
	if err := client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Errorf("delete pods of %s: %v", ns, err)
		return
	}
	eventually(t, 60*time.Second, "pods of "+ns+" gone", func() (bool, string) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d left", len(pods.Items))
	})
}

// volCreate creates obj (a Pod, Service, ConfigMap or Secret) and returns
// what the apiserver made of it.
func volCreate[T any](t *testing.T, client kubernetes.Interface, obj T) T {
	t.Helper()
	ctx := context.Background()
	var out any
	var err error
	switch o := any(obj).(type) {
	case *corev1.Pod:
		out, err = client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Service:
		out, err = client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.ConfigMap:
		out, err = client.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Secret:
		out, err = client.CoreV1().Secrets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("volCreate: %T", obj)
	}
	if err != nil {
		t.Fatalf("create %T: %v", obj, err)
	}
	return out.(T)
}

// volRunToEnd creates a pod of one container and returns its log once it
// has succeeded.
func volRunToEnd(t *testing.T, client kubernetes.Interface, pod *corev1.Pod) string {
	t.Helper()
	volCreate(t, client, pod)
	volWaitPhase(t, client, pod.Namespace, pod.Name, corev1.PodSucceeded, 90*time.Second)
	return volLogs(t, client, pod.Namespace, pod.Name)
}

func volWaitPhase(t *testing.T, client kubernetes.Interface, ns, name string, phase corev1.PodPhase, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	eventually(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, phase), func() (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if p.Status.Phase == corev1.PodFailed && phase != corev1.PodFailed {
			t.Fatalf("pod %s/%s failed: %+v\nlog: %s", ns, name, p.Status, volLogs(t, client, ns, name))
		}
		return p.Status.Phase == phase, fmt.Sprintf("%+v", p.Status)
	})
}

func volLogs(t *testing.T, client kubernetes.Interface, ns, name string) string {
	t.Helper()
	return volLogsOf(t, client, ns, name, "main")
}

// volLogsOf reads a container's log through the apiserver.
func volLogsOf(t *testing.T, client kubernetes.Interface, ns, name, container string) string {
	t.Helper()
	b, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: container}).Do(context.Background()).Raw()
	if err != nil {
		t.Fatalf("logs of %s/%s %s: %v", ns, name, container, err)
	}
	return string(b)
}

// volWaitLog waits until the last line of the container's log is line.
func volWaitLog(t *testing.T, client kubernetes.Interface, ns, name, line string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	eventually(t, timeout, fmt.Sprintf("%s/%s logging %q", ns, name, line), func() (bool, string) {
		b, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "main", TailLines: ptr.To[int64](1)}).Do(ctx).Raw()
		if err != nil {
			return false, err.Error()
		}
		last := strings.TrimSpace(string(b))
		return last == line, last
	})
}

// volValues parses KEY=VALUE lines (env's output, or the scripts' echoes).
func volValues(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func volCompare(t *testing.T, got, want map[string]string, out string) {
	t.Helper()
	bad := false
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %q (set: %v), want %q", k, g, ok, w)
			bad = true
		}
	}
	if bad {
		t.Logf("container output:\n%s", out)
	}
}

// volClaims are the claims of a service-account token the tests look at.
type volClaims struct {
	Aud        []string `json:"aud"`
	Exp, Iat   int64
	Sub        string
	Kubernetes struct {
		Pod struct{ Name string }
	} `json:"kubernetes.io"`
}

// volJWTClaims decodes a JWT's payload without checking its signature.
func volJWTClaims(t *testing.T, token string) volClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var c volClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("token claims %s: %v", b, err)
	}
	return c
}

// volWaitNodeReady waits until the node is Ready and returns its allocatable resources.
func volWaitNodeReady(t *testing.T, client kubernetes.Interface, node string) corev1.ResourceList {
	t.Helper()
	ctx := context.Background()
	var alloc corev1.ResourceList
	eventually(t, 60*time.Second, "node Ready", func() (bool, string) {
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		alloc = n.Status.Allocatable
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, c.Message
			}
		}
		return false, "no Ready condition"
	})
	return alloc
}
