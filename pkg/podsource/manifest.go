package podsource

import (
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubelet-lite/kubelet-lite/pkg/image"
)

// Annotations the upstream kubelet puts on static pods.
const (
	ConfigSourceAnnotation = "kubernetes.io/config.source"
	ConfigHashAnnotation   = "kubernetes.io/config.hash"
	ConfigMirrorAnnotation = "kubernetes.io/config.mirror"
)

// ReadManifest reads one static pod manifest (YAML or JSON) and returns the
// pod as the node runs it: UID derived from the content, name suffixed with
// the node name, defaults applied, bound to the node.
func ReadManifest(path, nodeName string) (*corev1.Pod, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	pod, err := DecodePod(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if err := staticDefaults(pod, "file", nodeName); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return pod, nil
}

// strictCodecs reject unknown and duplicate fields, so a misspelled field in
// a manifest is an error rather than silently ignored.
var strictCodecs = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict)

// DecodePod decodes a v1 Pod from YAML or JSON, strictly; any other kind is
// an error.
func DecodePod(data []byte) (*corev1.Pod, error) {
	if err := checkQuantities(data); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	obj, gvk, err := strictCodecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("kind %s is not a v1 Pod", gvk.Kind)
	}
	return pod, nil
}

// staticDefaults does what the apiserver would have done for a pod it
// admitted: name it, default it, and check what the node relies on.
func staticDefaults(pod *corev1.Pod, source, nodeName string) error {
	if pod.UID == "" {
		pod.UID = StaticPodUID(pod, nodeName)
	}
	if pod.Name == "" {
		return errors.New("metadata.name is empty")
	}
	pod.Name = pod.Name + "-" + strings.ToLower(nodeName)
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[ConfigSourceAnnotation] = source
	pod.Annotations[ConfigHashAnnotation] = string(pod.UID)
	pod.Spec.NodeName = nodeName
	applyDefaults(pod)
	return validate(pod)
}

// applyDefaults fills the fields the API's defaulting would have filled.
func applyDefaults(pod *corev1.Pod) {
	s := &pod.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(corev1.DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	for _, cs := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range cs {
			c := &cs[i]
			if c.ImagePullPolicy == "" {
				// An unparseable image is reported by validate.
				c.ImagePullPolicy, _ = image.DefaultPullPolicy(c.Image)
			}
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	}
}

// validate checks what the node relies on; the apiserver does the rest.
func validate(pod *corev1.Pod) error {
	var errs []error
	if msgs := validation.IsDNS1123Subdomain(pod.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("metadata.name %q: %s", pod.Name, strings.Join(msgs, "; ")))
	}
	if len(pod.Spec.Containers) == 0 {
		errs = append(errs, errors.New("spec.containers: at least one container is required"))
	}
	seen := map[string]bool{}
	for _, group := range []struct {
		field string
		cs    []corev1.Container
	}{{"spec.initContainers", pod.Spec.InitContainers}, {"spec.containers", pod.Spec.Containers}} {
		for i, c := range group.cs {
			where := fmt.Sprintf("%s[%d]", group.field, i)
			if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%s.name %q: %s", where, c.Name, strings.Join(msgs, "; ")))
			}
			if seen[c.Name] {
				errs = append(errs, fmt.Errorf("%s.name %q: duplicate container name", where, c.Name))
			}
			seen[c.Name] = true
			if c.Image == "" {
				errs = append(errs, fmt.Errorf("%s.image: required", where))
			} else if _, err := image.NormalizeRef(c.Image); err != nil {
				errs = append(errs, fmt.Errorf("%s.image: %w", where, err))
			}
		}
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, fmt.Errorf("spec.restartPolicy %q: want Always, OnFailure or Never", pod.Spec.RestartPolicy))
	}
	return errors.Join(errs...)
}
