package podworker

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/expansion"
)

// Image is what the pod worker needs to know of a container's image.
type Image struct {
	Ref, ID, RepoDigest string
	Entrypoint, Cmd     []string
	Env                 []string
	WorkingDir, User    string
	// Layers are unpacked layer directories, lowest first.
	Layers []string
	// Size is the image's compressed size in bytes, 0 when not known.
	Size int64
}

// process is a container's process as Kubernetes merges it with its image.
type process struct {
	Args       []string
	Env        []string
	WorkingDir string
	UID, GID   uint32
	Groups     []uint32
}

// buildProcess merges the container's command, args, env (evaluated by
// containerEnv), workingDir and user with its image config by Kubernetes'
// rules: command replaces the
// entrypoint and drops the image's cmd, args alone replace the cmd, $(VAR)
// refers to the container's own env, and the pod's securityContext beats the
// image's user.
func buildProcess(pod *corev1.Pod, c *corev1.Container, img Image, env []string) (process, error) {
	lookup := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	var args []string
	switch {
	case len(c.Command) > 0:
		args = append(expandAll(c.Command, lookup), expandAll(c.Args, lookup)...)
	case len(c.Args) > 0:
		args = append(slices.Clone(img.Entrypoint), expandAll(c.Args, lookup)...)
	default:
		args = append(slices.Clone(img.Entrypoint), img.Cmd...)
	}
	if len(args) == 0 {
		return process{}, fmt.Errorf("container %q: no command: the pod sets none and image %s has no entrypoint or cmd", c.Name, img.Ref)
	}
	p := process{Args: args, Env: mergeEnv(img.Env, env), WorkingDir: c.WorkingDir}
	if p.WorkingDir == "" {
		p.WorkingDir = img.WorkingDir
	}
	if p.WorkingDir == "" {
		p.WorkingDir = "/"
	}
	if err := resolveUser(pod, c, img, &p); err != nil {
		return process{}, fmt.Errorf("container %q: %w", c.Name, err)
	}
	return p, nil
}

// mergeEnv lays the container's variables over the image's.
func mergeEnv(image, container []string) []string {
	out := slices.Clone(image)
	for _, kv := range container {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(s string) bool { return strings.HasPrefix(s, k+"=") })
		out = append(out, kv)
	}
	return out
}

func expandAll(in []string, vars map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expansion.Expand(s, vars)
	}
	return out
}

// resolveUser sets the uid, gid and groups from the securityContext, falling
// back to the image's user looked up in the image's /etc/passwd and /etc/group.
func resolveUser(pod *corev1.Pod, c *corev1.Container, img Image, p *process) error {
	spec := img.User
	podSC, sc := pod.Spec.SecurityContext, c.SecurityContext
	runAsUser := pick(sc, podSC, func(s *corev1.SecurityContext) *int64 { return s.RunAsUser },
		func(s *corev1.PodSecurityContext) *int64 { return s.RunAsUser })
	runAsGroup := pick(sc, podSC, func(s *corev1.SecurityContext) *int64 { return s.RunAsGroup },
		func(s *corev1.PodSecurityContext) *int64 { return s.RunAsGroup })
	if runAsUser != nil {
		// runAsGroup replaces the primary group below; the user's
		// /etc/group memberships still count, as in containerd.
		spec = strconv.FormatInt(*runAsUser, 10)
	}
	if spec == "" {
		spec = "0"
	}
	u, err := user.GetExecUserPath(spec, &user.ExecUser{}, imageFile(img, "etc/passwd"), imageFile(img, "etc/group"))
	if err != nil {
		return fmt.Errorf("resolve user %q in image %s: %w", spec, img.Ref, err)
	}
	if runAsGroup != nil {
		u.Gid = int(*runAsGroup)
	}
	if u.Uid < 0 || u.Gid < 0 {
		return fmt.Errorf("user %q resolves to a negative id", spec)
	}
	if err := checkNonRoot(pod, c, runAsUser, u.Uid); err != nil {
		return err
	}
	p.UID, p.GID = uint32(u.Uid), uint32(u.Gid)
	strict := podSC != nil && podSC.SupplementalGroupsPolicy != nil &&
		*podSC.SupplementalGroupsPolicy == corev1.SupplementalGroupsPolicyStrict
	if !strict {
		for _, g := range u.Sgids {
			if g >= 0 {
				p.Groups = append(p.Groups, uint32(g))
			}
		}
	}
	if podSC != nil {
		for _, g := range podSC.SupplementalGroups {
			p.Groups = append(p.Groups, uint32(g))
		}
		if podSC.FSGroup != nil {
			p.Groups = append(p.Groups, uint32(*podSC.FSGroup))
		}
	}
	slices.Sort(p.Groups)
	p.Groups = slices.Compact(p.Groups)
	p.Groups = slices.DeleteFunc(p.Groups, func(g uint32) bool { return g == p.GID })
	return nil
}

// checkNonRoot refuses to run c as root when its or its pod's
// securityContext sets runAsNonRoot, in upstream's words; uid is the user
// it would run as (the image's, resolved in its /etc/passwd, unless
// runAsUser is set).
func checkNonRoot(pod *corev1.Pod, c *corev1.Container, runAsUser *int64, uid int) error {
	var nonRoot *bool
	if sc := pod.Spec.SecurityContext; sc != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		return nil
	}
	who := fmt.Sprintf("(pod: %q, container: %s)", fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID), c.Name)
	switch {
	case runAsUser != nil && *runAsUser == 0:
		return fmt.Errorf("container's runAsUser breaks non-root policy %s", who)
	case runAsUser == nil && uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", who)
	}
	return nil
}

func pick(sc *corev1.SecurityContext, podSC *corev1.PodSecurityContext,
	fromSC func(*corev1.SecurityContext) *int64, fromPod func(*corev1.PodSecurityContext) *int64,
) *int64 {
	if sc != nil && fromSC(sc) != nil {
		return fromSC(sc)
	}
	if podSC != nil {
		return fromPod(podSC)
	}
	return nil
}

// imageFile returns the path of rel in the topmost layer that has it, or ""
// when no layer does.
func imageFile(img Image, rel string) string {
	for _, l := range slices.Backward(img.Layers) {
		p := filepath.Join(l, rel)
		if _, err := os.Lstat(p); err == nil {
			return p
		}
	}
	return ""
}
