// Package podsource turns the places pods come from (a directory of static pod
// manifests now, the apiserver later) into one stream of desired pods.
package podsource
