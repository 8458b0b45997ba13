package podsource

import (
	"crypto/md5" //nolint:gosec // an identifier, as upstream derives it, not a security boundary
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
)

// StaticPodUID derives a static pod's UID the way the upstream kubelet does:
// an MD5 of the decoded manifest and the node name, so the same file on the
// same node always names the same pod, and any change to it names a new one.
func StaticPodUID(pod *corev1.Pod, nodeName string) types.UID {
	h := md5.New() //nolint:gosec
	fmt.Fprintf(h, "%s", dump.ForHash(pod))
	fmt.Fprintf(h, "host:%s", nodeName)
	return types.UID(hex.EncodeToString(h.Sum(nil)))
}
